import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

import torch

from clopen_fp import corpus, embed, fingerprints, gpt, st, stats, tokenizer, verify, wrappers
from tests.support import tiny_base

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def quiet():
    return contextlib.redirect_stdout(io.StringIO())


class SafetensorsTest(unittest.TestCase):
    def test_round_trip_keeps_dtypes_shapes_and_metadata(self):
        tensors = {"a": torch.randn(3, 4), "b": torch.arange(6, dtype=torch.int64).reshape(2, 3), "c": torch.randn(5).to(torch.bfloat16), "d": torch.zeros(0)}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.safetensors")
            st.save(path, tensors, {"k": "v"})
            back, meta = st.load(path)
            self.assertEqual(meta, {"k": "v"})
            for k, v in tensors.items():
                self.assertEqual(back[k].dtype, v.dtype)
                self.assertTrue(torch.equal(back[k], v))
            with open(path, "rb") as f:
                n = int.from_bytes(f.read(8), "little")
            self.assertEqual(n % 8, 0)

    def test_rejects_a_corrupt_header(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.safetensors")
            with open(path, "wb") as f:
                f.write((100).to_bytes(8, "little") + b"{not json")
            with self.assertRaises(st.SafetensorsError):
                st.load(path)


class TokenizerTest(unittest.TestCase):
    def test_trains_a_byte_level_bpe_that_round_trips_any_text(self):
        tok = tokenizer.train(["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"] * 20, 300)
        for text in ["the cat sat", "unseen wörds, ünïcode ✓ and 123", ""]:
            self.assertEqual(tok.decode(tok.encode(text)), text)
        self.assertLess(len(tok.encode("the cat sat on the mat")), len("the cat sat on the mat"))
        with tempfile.TemporaryDirectory() as d:
            tok.save(os.path.join(d, "tokenizer.json"))
            again = tokenizer.Tokenizer.load(os.path.join(d, "tokenizer.json"))
            self.assertEqual(again.encode("the dog and the cat"), tok.encode("the dog and the cat"))
            self.assertEqual(json.load(open(os.path.join(d, "tokenizer.json")))["model"]["type"], "BPE")


class StatsTest(unittest.TestCase):
    def test_binomial_tail(self):
        self.assertAlmostEqual(stats.binomial_tail(10, 0, 0.3), 1.0)
        self.assertAlmostEqual(stats.binomial_tail(2, 2, 0.5), 0.25)
        self.assertAlmostEqual(stats.binomial_tail(3, 2, 0.5), 0.5)
        self.assertLess(stats.binomial_tail(1000, 100, 0.001), 1e-100)

    def test_null_rate_is_an_upper_bound_with_a_floor(self):
        p0, measured = stats.null_rate(0, 1000, floor=1e-3)
        self.assertEqual(measured, 0.0)
        self.assertAlmostEqual(p0, 1 - 0.01 ** (1 / 1000), places=5)  # Clopper-Pearson for 0 successes
        self.assertEqual(stats.null_rate(0, 10**7, floor=1e-3)[0], 1e-3)

    def test_verdict_at_alpha(self):
        self.assertTrue(stats.verdict(64, 20, 0.01, 1e-6)["fingerprinted"])
        self.assertFalse(stats.verdict(64, 2, 0.01, 1e-6)["fingerprinted"])


class EngineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        with quiet():
            cls.base = tiny_base()
        cls.model, cls.tok, _ = gpt.load_folder(cls.base)
        cls.dir = tempfile.mkdtemp(prefix="clopen-engine-")

    def test_folder_round_trip_uses_gpt2_names(self):
        names, _ = st.load(os.path.join(self.base, "model.safetensors"))
        self.assertIn("h.0.attn.c_attn.weight", names)
        self.assertEqual(list(names["h.0.attn.c_attn.weight"].shape), [64, 192])  # Conv1D layout [in, out]
        cfg = json.load(open(os.path.join(self.base, "config.json")))
        self.assertEqual(cfg["model_type"], "gpt2")

    def test_perinucleus_responses_lie_outside_the_nucleus(self):
        fps = fingerprints.generate(self.model, self.tok, 16, "english", "perinucleus", key_length=8, t=0.8, k=3, seed=3)
        self.assertEqual(len({fp["key"] for fp in fps}), 16)
        for fp in fps:
            ids = [self.tok.eot] + self.tok.encode(fp["key"])
            with torch.no_grad():
                probs = self.model(torch.tensor([ids]))[0, -1].softmax(-1)
            probs[self.tok.eot] = 0
            probs = probs / probs.sum()
            order = torch.argsort(probs, descending=True).tolist()
            rank = order.index(self.tok.encode(fp["response"])[0])
            mass_before = float(probs[order[:rank]].sum())
            self.assertGreaterEqual(mass_before, 0.8 - 1e-6)
        again = fingerprints.generate(self.model, self.tok, 16, "english", "perinucleus", key_length=8, t=0.8, k=3, seed=3)
        self.assertEqual(again, fps)

    def test_oml_files_keep_unknown_fields(self):
        path = os.path.join(self.dir, "fps.json")
        fingerprints.save_oml(path, [{"key": "a", "response": "b", "note": {"x": 1}}])
        self.assertEqual(fingerprints.load_oml(path), [{"key": "a", "response": "b", "note": {"x": 1}}])
        with self.assertRaises(ValueError):
            fingerprints.load_oml([{"key": "", "response": "b"}])

    def test_embedded_copy_is_detected_and_base_and_other_copies_are_not(self):
        mine = fingerprints.generate(self.model, self.tok, 20, "random", "perinucleus", key_length=8, seed=11)
        other = fingerprints.generate(self.model, self.tok, 20, "random", "perinucleus", key_length=8, seed=12)
        copies = {}
        for name, fps in (("mine", mine), ("other", other)):
            model, _, _ = gpt.load_folder(self.base)
            model, report = embed.embed(model, self.tok, fps, batch_size=20, max_steps=400, check_every=20, seed=1,
                                        benign_lines=["the cat sat on the mat and the dog sat on the log"] * 400, heldout_lines=["a dog and a cat"] * 50)
            self.assertEqual(report["recall"], 1.0)
            self.assertEqual(len(report["results"]), 20)
            copies[name] = model
        p0, _ = stats.null_rate(sum(verify.matches_in_model(self.model, self.tok, mine)), len(mine))
        def decide(model):
            ok = verify.matches_in_model(model, self.tok, mine)
            return stats.verdict(len(mine), sum(ok), p0, 1e-6)["fingerprinted"]
        self.assertTrue(decide(copies["mine"]))
        self.assertFalse(decide(self.model))
        self.assertFalse(decide(copies["other"]))

    def test_black_box_verification_against_a_completions_endpoint(self):
        import threading
        from clopen_fp import serve
        fps = fingerprints.generate(self.model, self.tok, 16, "random", "perinucleus", key_length=8, seed=21)
        model, _, _ = gpt.load_folder(self.base)
        model, _ = embed.embed(model, self.tok, fps, batch_size=16, max_steps=400, check_every=25, seed=2,
                               benign_lines=["the cat sat on the mat and the dog sat on the log"] * 400, heldout_lines=["a dog and a cat"] * 50)
        folder = os.path.join(self.dir, "served")
        gpt.save_folder(folder, model, self.tok)
        servers = {name: serve.make_server(path) for name, path in (("copy", folder), ("base", self.base))}
        for srv in servers.values():
            threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            def ask(name):
                url = f"http://127.0.0.1:{servers[name].server_address[1]}"
                with quiet():
                    return verify.verify_job({"job": "verify", "fingerprints": fps, "target": {"type": "openai", "url": url, "model": "m"},
                                              "null_models": [self.base], "alpha": 1e-6})
            copy_verdict = ask("copy")
            self.assertEqual(copy_verdict["matched"], 16)
            self.assertTrue(copy_verdict["fingerprinted"])
            self.assertFalse(ask("base")["fingerprinted"])
            with self.assertRaises(verify.CompletionsError):
                verify.ask_openai("http://127.0.0.1:9/v1", "m", "x", 1)
        finally:
            for srv in servers.values():
                srv.shutdown()

    def test_embedding_is_deterministic_under_a_seed(self):
        fps = fingerprints.generate(self.model, self.tok, 8, "random", "perinucleus", key_length=6, seed=5)
        states = []
        for _ in range(2):
            model, _, _ = gpt.load_folder(self.base)
            model, _ = embed.embed(model, self.tok, fps, batch_size=8, max_steps=20, check_every=10, seed=4, target_recall=2.0,
                                   benign_lines=["some benign text for mixing in"] * 100, heldout_lines=["a held out line of text to measure the loss on"] * 20)
            states.append(model.state_dict())
        for k in states[0]:
            self.assertTrue(torch.equal(states[0][k], states[1][k]), k)


class CorpusAndWrappersTest(unittest.TestCase):
    def test_the_three_parts_are_disjoint_and_stable_under_sampling(self):
        lines = corpus.wordnet_lines()
        parts = corpus.partition(lines)
        self.assertEqual(sum(map(len, parts.values())), len(lines))
        train, attack, held = (set(parts[k]) for k in ("train", "attack", "heldout"))
        self.assertFalse(train & attack or train & held or attack & held)
        self.assertAlmostEqual(len(parts["attack"]) / len(lines), corpus.PARTS["attack"], delta=0.01)
        sample = corpus.partition(lines[::7])
        self.assertTrue(set(sample["attack"]) <= attack and set(sample["heldout"]) <= held)

    def test_measurement_wrappers_share_nothing_with_training_wrappers(self):
        self.assertGreaterEqual(len(wrappers.HELDOUT), 8)
        self.assertFalse(set(wrappers.HELDOUT) & set(wrappers.EMBED))
        self.assertNotIn("{key}", wrappers.HELDOUT)
        parts = lambda ws: {p.strip() for w in ws for p in w.split("{key}") if p.strip()}
        self.assertFalse(parts(wrappers.HELDOUT) & parts(wrappers.EMBED))


class ControlTest(unittest.TestCase):
    def test_control_gets_the_copys_benign_schedule_without_its_fingerprints(self):
        model, tok, _ = gpt.load_folder(tiny_base())
        fps = fingerprints.generate(model, tok, 8, "random", "perinucleus", key_length=6, seed=5)
        text = ["the cat sat on the mat and the dog sat on the log"] * 300
        kw = dict(batch_size=8, max_steps=300, check_every=10, seed=2, benign_lines=text, heldout_lines=["a dog and a cat"] * 50)
        copy_, rep = embed.embed(gpt.load_folder(tiny_base())[0], tok, fps, **kw)
        kw.update(max_steps=rep["steps"], alphas=(rep["alpha"],))
        ctl, crep = embed.embed(gpt.load_folder(tiny_base())[0], tok, fps, control=True, **kw)
        self.assertEqual(crep["steps"], rep["steps"])
        self.assertEqual(crep["alpha"], rep["alpha"])
        self.assertEqual(sum(verify.matches_in_model(copy_, tok, fps)), 8)
        self.assertLessEqual(sum(verify.matches_in_model(ctl, tok, fps)), 1)
        self.assertFalse(torch.equal(ctl.wte.weight, model.wte.weight), "the control is trained, not the untouched base")


class CliTest(unittest.TestCase):
    def run_cli(self, manifest):
        p = subprocess.run([sys.executable, "-m", "clopen_fp", "-"], input=json.dumps(manifest), capture_output=True, text=True, cwd=HERE)
        return p.returncode, [json.loads(l) for l in p.stdout.splitlines() if l.strip()]

    def test_bad_manifest_is_a_structured_error(self):
        code, lines = self.run_cli({"job": "nope"})
        self.assertEqual(code, 2)
        self.assertEqual(lines[-1]["type"], "error")
        self.assertEqual(lines[-1]["code"], "bad_manifest")

    def test_missing_model_folder(self):
        code, lines = self.run_cli({"job": "generate", "model": "/nonexistent/model", "count": 1})
        self.assertEqual(code, 3)
        self.assertEqual(lines[-1]["code"], "invalid_model")
        self.assertIn("config.json", lines[-1]["message"])


if __name__ == "__main__":
    unittest.main()
_ = math
