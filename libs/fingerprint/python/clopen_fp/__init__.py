"""Clopen fingerprint engine: GPT-2-style models in PyTorch, fingerprint generation, embedding,
verification and attacks. Driven by `python3 -m clopen_fp manifest.json` (see cli.py)."""
