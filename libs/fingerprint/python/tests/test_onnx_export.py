import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

import torch

from clopen_fp import embed, gpt, onnx_export
from tests.support import tiny_base

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(manifest):
    p = subprocess.run([sys.executable, "-m", "clopen_fp", "-"], input=json.dumps(manifest), capture_output=True, text=True, cwd=HERE)
    return p.returncode, [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


class OnnxExportTest(unittest.TestCase):
    """What onnxruntime computes from the file is checked from TypeScript (libs/inference); no
    ONNX runtime exists for Python here."""

    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        with contextlib.redirect_stdout(io.StringIO()):
            cls.base = tiny_base()
        cls.dir = tempfile.mkdtemp(prefix="clopen-onnx-")

    def test_exported_module_gives_the_last_position_logits_of_the_model(self):
        model, tok, _ = gpt.load_folder(self.base)
        last = onnx_export.LastLogits(model)
        with torch.no_grad():
            for text in ["a dog", "the quality of being something that is not very long at all"]:
                x = torch.tensor([[tok.eot] + tok.encode(text)])
                self.assertTrue(torch.allclose(last(x), model(x)[:, -1], atol=1e-5))

    def test_job_writes_the_file_and_reports_its_size_and_hash(self):
        out = os.path.join(self.dir, "nested", "copy.onnx")
        code, lines = run_cli({"job": "export-onnx", "model": self.base, "out": out, "opset": 14})
        self.assertEqual(code, 0, lines)
        result = lines[-1]
        self.assertEqual(result["type"], "result")
        with open(out, "rb") as f:
            data = f.read()
        self.assertEqual(result["bytes"], len(data))
        self.assertEqual(result["sha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual((result["opset"], result["logits"]), (14, "last"))
        self.assertIn(b"input_ids", data)
        self.assertIn(b"logits", data)
        self.assertEqual([n for n in os.listdir(os.path.dirname(out))], ["copy.onnx"])

    def test_out_defaults_to_model_onnx_in_the_folder(self):
        folder = os.path.join(self.dir, "copy")
        model, tok, _ = gpt.load_folder(self.base)
        gpt.save_folder(folder, model, tok)
        with contextlib.redirect_stdout(io.StringIO()):
            result = onnx_export.export_job({"job": "export-onnx", "model": folder})
        self.assertEqual(result["out"], os.path.join(folder, "model.onnx"))
        self.assertEqual(result["opset"], onnx_export.DEFAULT_OPSET)
        self.assertTrue(os.path.exists(result["out"]))

    def test_an_opset_without_trilu_is_invalid_input(self):
        code, lines = run_cli({"job": "export-onnx", "model": self.base, "out": os.path.join(self.dir, "old.onnx"), "opset": 13})
        self.assertEqual(code, 3)
        self.assertEqual(lines[-1]["code"], "invalid_input")
        self.assertIn("opset", lines[-1]["message"])

    def test_embed_writes_model_onnx_beside_the_copy_when_asked(self):
        fps = [{"key": "a short key", "response": " dog"}]
        for onnx in (False, True):
            out = os.path.join(self.dir, f"embedded-{onnx}")
            with contextlib.redirect_stdout(io.StringIO()):
                report = embed.embed_job({"job": "embed", "base": self.base, "fingerprints": fps, "out": out, "onnx": onnx,
                                          "max_steps": 1, "check_every": 1, "batch_size": 1, "alphas": [1.0],
                                          "benign_text": os.path.join(self.base, "heldout.txt")})
            self.assertEqual(os.path.exists(os.path.join(out, "model.onnx")), onnx)
            self.assertEqual("onnx" in report, onnx)
        self.assertEqual(report["onnx"]["out"], os.path.join(out, "model.onnx"))


if __name__ == "__main__":
    unittest.main()
