"""`python3 -m clopen_fp manifest.json` (or `-` for stdin): runs one job and prints JSON lines.

Manifest: {"job": "train-base" | "generate" | "embed" | "verify" | "attack" | "bench" | "export-onnx", ...job fields}.
Exit codes: 0 done, 2 bad manifest, 3 missing or invalid files, 4 out of memory, 1 anything else."""
import json
import sys
import traceback

from .progress import emit


class ManifestError(ValueError):
    pass


def _jobs():
    from . import base, bench, embed, fingerprints, verify, attacks, onnx_export
    return {
        "bench": bench.bench_job,
        "train-base": base.train_base,
        "generate": fingerprints.generate_job,
        "embed": embed.embed_job,
        "verify": verify.verify_job,
        "attack": attacks.attack_job,
        "export-onnx": onnx_export.export_job,
    }


def _die_with_parent():
    """A worker killed with SIGKILL cannot stop its engine; on Linux the kernel does it for us.
    Called by `python3 -m clopen_fp` only: a test that calls main() in-process from a shell
    whose parent has gone (ppid 1) must not exit."""
    try:
        import ctypes
        import os
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            sys.exit(1)
    except (OSError, AttributeError):
        pass


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        if len(argv) != 1:
            raise ManifestError("usage: python3 -m clopen_fp MANIFEST.json (or - for stdin)")
        text = sys.stdin.read() if argv[0] == "-" else open(argv[0]).read()
        try:
            manifest = json.loads(text)
        except json.JSONDecodeError as e:
            raise ManifestError(f"manifest is not JSON: {e}") from e
        if not isinstance(manifest, dict) or "job" not in manifest:
            raise ManifestError('manifest must be an object with a "job" field')
        jobs = _jobs()
        if manifest["job"] not in jobs:
            raise ManifestError(f"unknown job {manifest['job']!r}; expected one of {', '.join(jobs)}")
        result = jobs[manifest["job"]](manifest)
        emit("result", job=manifest["job"], **result)
    except ManifestError as e:
        emit("error", code="bad_manifest", message=str(e))
        sys.exit(2)
    except FileNotFoundError as e:
        emit("error", code="missing_file", message=f"{e.filename or e}: not found")
        sys.exit(3)
    except (ValueError, KeyError) as e:
        code = "invalid_input"
        if e.__class__.__name__ in ("ModelFolderError", "SafetensorsError", "CorpusUnavailable"):
            code = "invalid_model" if e.__class__.__name__ != "CorpusUnavailable" else "corpus_unavailable"
        if isinstance(e, KeyError):
            emit("error", code="bad_manifest", message=f"manifest lacks the field {e}")
            sys.exit(2)
        emit("error", code=code, message=str(e))
        sys.exit(3)
    except MemoryError:
        emit("error", code="out_of_memory", message="the job ran out of memory; lower batch_size or the model size")
        sys.exit(4)
    except RuntimeError as e:
        if "out of memory" in str(e).lower() or "can't allocate memory" in str(e).lower():
            emit("error", code="out_of_memory", message=f"the job ran out of memory ({e}); lower batch_size or the model size")
            sys.exit(4)
        emit("error", code="internal", message=str(e), trace=traceback.format_exc(limit=5))
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - everything must reach the caller as a structured line
        emit("error", code="internal", message=f"{e.__class__.__name__}: {e}", trace=traceback.format_exc(limit=5))
        sys.exit(1)
