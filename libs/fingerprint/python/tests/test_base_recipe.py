"""The shipped base model (libs/fingerprint/models/base-v2) comes from its recipe: rerunning the
recipe's first steps gives the same tokenizer and the same loss curve, and the shipped weights give
the held-out loss recorded at training. (The full rerun, about 20 min on 2 cores, is
`npm run model:base -- base-v2 --seed 1234` into the cache; compare its stamp with the shipped one.)"""
import io
import json
import os
import tempfile
import unittest
from contextlib import redirect_stdout

import torch

from clopen_fp import base, corpus, gpt

SHIPPED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "base-v2")
STEPS = 41


@unittest.skipUnless(os.path.exists(os.path.join(SHIPPED, "clopen-model.json")), "no shipped base model")
class ShippedBaseReproduces(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(SHIPPED, "clopen-model.json")) as f:
            cls.stamp = json.load(f)
        cls.dir = tempfile.mkdtemp(prefix="clopen-recipe-")
        with redirect_stdout(io.StringIO()):
            cls.rerun = base.train_base({**cls.stamp["config"], "out": cls.dir, "stop_after": STEPS})

    def test_the_recipe_gives_the_same_tokenizer(self):
        with open(os.path.join(SHIPPED, "tokenizer.json")) as a, open(os.path.join(self.dir, "tokenizer.json")) as b:
            self.assertEqual(json.load(a), json.load(b))

    def test_the_recipe_retraces_the_recorded_loss_curve(self):
        recorded = {step: loss for step, loss in self.stamp["result"]["loss_curve"]}
        compared = 0
        for step, loss in self.rerun["loss_curve"]:
            if step in recorded:
                self.assertAlmostEqual(loss, recorded[step], delta=0.01 * recorded[step], msg=f"step {step}")
                compared += 1
        self.assertGreaterEqual(compared, 3)

    def test_the_shipped_weights_have_the_recorded_heldout_loss(self):
        torch.set_num_threads(2)
        model, tok, _ = gpt.load_folder(SHIPPED)
        held = base.token_stream(tok, corpus.partition(corpus.wordnet_lines())["heldout"])
        loss = base.evaluate(model, held, model.n_positions)
        self.assertAlmostEqual(loss, self.stamp["result"]["heldout_loss"], delta=0.002)
        self.assertEqual(self.stamp["result"]["pretrain_tokens"], self.stamp["config"]["steps"] * self.stamp["config"]["batch_size"] * self.stamp["config"]["n_positions"])
