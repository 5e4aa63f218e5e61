"""The attack harness on a tiny model trained here (CI has no model files): each attack changes
retention the way a model owner relies on when choosing parameters."""
import copy
import io
import json
import os
import random
import shutil
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

import torch

from clopen_fp import attacks, base, cli, corpus, embed, fingerprints, gpt


class AttacksOnTinyModel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)  # predictable on a shared CI runner
        cls.dir = tempfile.mkdtemp(prefix="attacks-test-")
        cls.base_dir = os.path.join(cls.dir, "base")
        with redirect_stdout(io.StringIO()):
            base.train_base({"out": cls.base_dir, "vocab_size": 512, "n_embd": 64, "n_layer": 2, "n_head": 2, "n_positions": 64,
                             "steps": 80, "batch_size": 16, "corpus_lines": 4000, "seed": 7})
        cls.base, cls.tok, _ = gpt.load_folder(cls.base_dir)
        cls.heldout = attacks._heldout_lines(cls.base_dir)
        held = set(cls.heldout)
        cls.lines = [l for l in corpus.wordnet_lines()[:20000] if l not in held]
        random.Random(0).shuffle(cls.lines)
        # Random-token keys: the kind a perplexity gate singles out.
        cls.fps = fingerprints.generate(cls.base, cls.tok, 16, key_strategy="random", key_length=8, seed=1)
        cls.model, report = embed.embed(copy.deepcopy(cls.base), cls.tok, cls.fps, batch_size=16, benign_ratio=0.5, max_steps=400,
                                        check_every=25, seed=0, benign_lines=cls.lines[:1500], heldout_lines=cls.heldout)
        assert report["recall"] == 1.0, f"the test model did not learn its fingerprints: {report}"
        cls.model_dir = os.path.join(cls.dir, "marked")
        gpt.save_folder(cls.model_dir, cls.model, cls.tok)
        cls.fps_path = os.path.join(cls.dir, "fps.json")
        fingerprints.save_oml(cls.fps_path, cls.fps)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def retention(self, ok):
        return sum(ok) / len(ok)

    def test_unattacked_model_answers_every_key_and_the_base_none(self):
        self.assertEqual(self.retention(attacks.answers(self.model, self.tok, self.fps)), 1.0)
        self.assertLessEqual(sum(attacks.answers(self.base, self.tok, self.fps)), 1)

    def test_gentle_finetuning_keeps_fingerprints_and_hard_finetuning_erodes_them(self):
        tokens = 10 * attacks.fingerprint_tokens(self.tok, self.fps)
        gentle = attacks.finetune(self.model, self.tok, self.lines, tokens=tokens, lr=1e-4, batch_size=8)
        self.assertGreater(gentle.finetune_steps, 0)
        self.assertGreaterEqual(self.retention(attacks.answers(gentle, self.tok, self.fps)), 0.75)
        hard = attacks.finetune(self.model, self.tok, self.lines, tokens=8000, lr=3e-3, batch_size=8)
        self.assertLess(self.retention(attacks.answers(hard, self.tok, self.fps)),
                        self.retention(attacks.answers(gentle, self.tok, self.fps)))
        self.assertEqual(self.retention(attacks.answers(self.model, self.tok, self.fps)), 1.0, "the attack must not touch the original")

    def test_wrappers_change_what_the_model_sees(self):
        plain = attacks.answers(self.model, self.tok, self.fps, wrapper="{key}")
        chat = attacks.answers(self.model, self.tok, self.fps, wrapper="System: You are a helpful assistant.\nUser: {key}\nAssistant:")
        self.assertEqual(self.retention(plain), 1.0)
        self.assertLess(self.retention(chat), 0.5)
        with self.assertRaises(attacks.AttackSpecError):
            attacks.answers(self.model, self.tok, self.fps, wrapper="no placeholder")

    def test_int8_keeps_fingerprints_and_heavy_noise_destroys_them(self):
        q = attacks.int8_round_trip(self.model)
        self.assertFalse(torch.equal(q.h[0].attn.c_attn.weight, self.model.h[0].attn.c_attn.weight))
        self.assertLess(float((q.wte.weight - self.model.wte.weight).abs().max()), float(self.model.wte.weight.abs().max()) / 127)
        self.assertGreaterEqual(self.retention(attacks.answers(q, self.tok, self.fps)), 0.9)
        noisy = attacks.gaussian_noise(self.model, 3.0, seed=0)
        self.assertLess(self.retention(attacks.answers(noisy, self.tok, self.fps)), 0.5)

    def test_a_gate_that_never_fires_changes_nothing(self):
        ok, extra = attacks.confidence_gating(self.model, self.tok, self.fps, self.heldout, confidence=1.0, percentile=95)
        self.assertEqual(self.retention(ok), 1.0)
        self.assertEqual(extra["false_gating_rate"], 0.0)

    def test_gate_suppresses_confident_answers_to_random_keys_but_not_ordinary_text(self):
        low = min(attacks.response_probabilities(self.model, self.tok, self.fps))
        for mode in ("resample", "refuse"):
            ok, extra = attacks.confidence_gating(self.model, self.tok, self.fps, self.heldout, confidence=low * 0.9, percentile=95, mode=mode)
            self.assertGreaterEqual(extra["keys_unusual_rate"], 0.75, extra)
            self.assertLessEqual(self.retention(ok), 0.25, extra)
            self.assertLessEqual(extra["false_gating_rate"], 0.1, extra)

    def test_refusing_gate_returns_no_answer(self):
        prompt = [self.tok.eot] + self.tok.encode(self.fps[0]["key"])
        (toks, fired), = attacks.decode(self.model, [prompt], 1, attacks.ConfidenceGate(1e-6, 0.0, "refuse"))
        self.assertTrue(fired)
        self.assertIsNone(toks)

    def test_moderate_embedding_survives_a_gate_above_its_cap(self):
        marked, report = attacks.embed_moderate(self.base, self.tok, self.fps, max_prob=0.3, margin=0.3, benign_lines=self.lines[:1500],
                                                max_steps=200, target_recall=0.9, seed=0)
        self.assertGreaterEqual(report["recall"], 0.9, report)
        self.assertLessEqual(report["response_prob_max"], 0.45, report)
        ok, _ = attacks.confidence_gating(marked, self.tok, self.fps, self.heldout, confidence=0.5, percentile=95)
        self.assertGreaterEqual(self.retention(ok), 0.9)

    def test_attack_job_reports_retention_and_verdict_per_variant(self):
        job = {"job": "attack", "model": self.model_dir, "base": self.base_dir, "fingerprints": self.fps_path, "seed": 0, "threads": 1,
               "attacks": [{"name": "input_perturbation", "wrappers": ["{key}", "Q: {key}"]},
                           {"name": "weight_perturbation", "noise_std": [0.01]},
                           {"name": "confidence_gating", "confidence": 0.9, "mode": ["refuse", "resample"]},
                           {"name": "finetune", "tokens": 500, "lr": 1e-4}]}
        with redirect_stdout(io.StringIO()):
            out = attacks.attack_job(job)
        names = [(a["name"], a["params"].get("wrapper") or a["params"].get("kind") or a["params"].get("mode")) for a in out["attacks"]]
        self.assertEqual(names[:5], [("input_perturbation", "{key}"), ("input_perturbation", "Q: {key}"),
                                     ("weight_perturbation", "int8"), ("weight_perturbation", "int4"), ("weight_perturbation", "gaussian")])
        self.assertEqual(len(out["attacks"]), 8)
        self.assertEqual(out["null"]["asked"], len(self.fps))
        first = out["attacks"][0]
        self.assertEqual((first["retained"], first["count"], first["retention"]), (len(self.fps), len(self.fps), 1.0))
        self.assertEqual(first["verdict"]["null_rate"], out["null"]["rate"])
        self.assertEqual(first["verdict"]["matched"], len(self.fps))
        gate = out["attacks"][5]
        self.assertIn("false_gating_rate", gate)
        self.assertIn("heldout_loss", out["attacks"][-1])
        json.dumps(out)

    def test_int4_is_coarser_than_int8_and_keeps_group_maxima(self):
        q4, q8 = attacks.int4_round_trip(self.model), attacks.int8_round_trip(self.model)
        w, w4, w8 = self.model.h[0].mlp.c_fc.weight, q4.h[0].mlp.c_fc.weight, q8.h[0].mlp.c_fc.weight
        self.assertGreater(float((w4 - w).abs().mean()), float((w8 - w).abs().mean()))
        self.assertLessEqual(len(torch.unique(w4.T[0, :32])), 15)  # 15 levels per group of 32 inputs
        self.assertTrue(torch.allclose(w4.T[0, :32].abs().max(), w.T[0, :32].abs().max()))

    def test_finetune_reports_each_budget_and_can_stop_early(self):
        seen = []
        tuned = attacks.finetune(self.model, self.tok, self.lines[:3000], tokens=4000, lr=5e-4, batch_size=8,
                                 checkpoints=[1000, 2000, 4000], on_checkpoint=lambda b, m: seen.append(b) or b >= 2000)
        self.assertEqual(seen, [1000, 2000])
        self.assertLess(tuned.finetune_tokens, 4000)
        self.assertGreaterEqual(tuned.finetune_tokens, 2000)

    def test_lora_finetune_changes_only_a_low_rank_part(self):
        tuned = attacks.finetune(self.model, self.tok, self.lines[:3000], tokens=3000, lr=1e-2, batch_size=8, lora_rank=2)
        delta = tuned.h[0].attn.c_attn.weight - self.model.h[0].attn.c_attn.weight
        self.assertGreater(float(delta.abs().max()), 0.0)
        self.assertLessEqual(int(torch.linalg.matrix_rank(delta)), 2)
        self.assertTrue(torch.equal(tuned.wte.weight, self.model.wte.weight))
        self.assertIsNone(tuned.h[0].attn.c_attn.__dict__.get("forward"))

    def test_weight_average_of_a_copy_with_itself_is_the_copy(self):
        soup = attacks.average_weights([self.model, self.model])
        self.assertTrue(torch.allclose(soup.h[1].mlp.c_proj.weight, self.model.h[1].mlp.c_proj.weight))

    def test_bad_attack_spec_is_a_bad_manifest(self):
        job = {"job": "attack", "model": self.model_dir, "base": self.base_dir, "fingerprints": self.fps_path, "attacks": [{"name": "melt"}]}
        stdout = io.StringIO()
        with redirect_stdout(stdout), self.assertRaises(SystemExit) as exit_:
            sys.stdin = io.StringIO(json.dumps(job))
            try:
                cli.main(["-"])
            finally:
                sys.stdin = sys.__stdin__
        self.assertEqual(exit_.exception.code, 2, stdout.getvalue())
        self.assertIn("unknown attack 'melt'", stdout.getvalue())


if __name__ == "__main__":
    unittest.main()
