"""JSON-lines protocol on stdout: {"type": "progress"|"log"|"result"|"error", ...}. Nothing else goes to stdout."""
import json
import sys
import time

_start = time.time()


def emit(kind, **fields):
    sys.stdout.write(json.dumps({"type": kind, "t": round(time.time() - _start, 3), **fields}) + "\n")
    sys.stdout.flush()


def progress(phase, fraction, **fields):
    emit("progress", phase=phase, percent=round(100.0 * max(0.0, min(1.0, fraction)), 1), **fields)


def log(message, **fields):
    emit("log", message=message, **fields)
