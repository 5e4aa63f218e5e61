"""A tiny base model trained once per test run (about 10 s), shared by the test modules."""
import os
import tempfile

from clopen_fp import base

_DIR = None
TINY = {"vocab_size": 512, "n_embd": 64, "n_layer": 2, "n_head": 2, "n_positions": 64, "steps": 80, "batch_size": 16, "corpus_lines": 4000, "seed": 7}


def tiny_base():
    global _DIR
    if _DIR is None:
        cached = os.environ.get("CLOPEN_TEST_TINY_MODEL")
        if cached and os.path.exists(os.path.join(cached, "model.safetensors")):
            _DIR = cached
        else:
            _DIR = tempfile.mkdtemp(prefix="clopen-tiny-")
            base.train_base({"job": "train-base", "out": _DIR, **TINY})
    return _DIR
