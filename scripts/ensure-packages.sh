#!/usr/bin/env bash
# Installs the Debian packages the platform needs beyond Node, when missing:
#   git, ca-certificates          buf breaking (reads git history), HTTPS
#   python3-torch                 the fingerprint engine (PyTorch from Debian; no pip here)
#   libopenblas0-pthread          a threaded BLAS: about 14x faster matrix products for torch
#   wordnet-base                  the offline English corpus the base model is trained on
set -euo pipefail
PACKAGES=(git ca-certificates python3-torch libopenblas0-pthread wordnet-base)
missing=()
for pkg in "${PACKAGES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure-packages: missing Debian packages ${missing[*]}; install them as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "ensure-packages: installing ${missing[*]}"
DEBIAN_FRONTEND=noninteractive apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
