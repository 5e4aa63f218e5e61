"""Runs the engine's unittest suite; with $CLOPEN_JEST_SUMMARY_DIR set, also writes its totals there
so that `npm test` closes with one line for every language."""
import json
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
suite = unittest.defaultTestLoader.discover(os.path.join(here, "tests"), top_level_dir=here)
result = unittest.TextTestRunner(verbosity=1).run(suite)
summary_dir = os.environ.get("CLOPEN_JEST_SUMMARY_DIR")
if summary_dir:
    os.makedirs(summary_dir, exist_ok=True)
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    with open(os.path.join(summary_dir, f"python-fingerprint-{os.getpid()}.json"), "w") as f:
        json.dump({"project": "fingerprint (python)", "passed": result.testsRun - failed - skipped, "failed": failed, "skipped": skipped}, f)
sys.exit(0 if result.wasSuccessful() else 1)
