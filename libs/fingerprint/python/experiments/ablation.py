"""Ablation of the embedding counters on the shipped base (one JSON line per row on stdout).

    cd libs/fingerprint/python && /usr/bin/python3 -m experiments.ablation ../models/base-v2 [count] [rows...]

Every row embeds the same `count` fingerprints with the engine's settings plus the row's
overrides, then measures: embedding minutes; utility cost against the control (the base given the
identical benign schedule); retention on the ten unseen wrappers; and retention after the thief's
fine-tune (AdamW lr 5e-4, wd 0.01, 32 x 64 tokens, on the corpus's attack part) at budgets of 1, 2,
4 and 8 % of the base's pretraining tokens. Results go to experiments/results/ablation-*.jsonl."""
import json
import sys
import time

import torch

from clopen_fp import attacks, corpus, embed, fingerprints, gpt, wrappers

ROWS = {
    "old-defaults": {},
    "wrappers": {"wrapper_rate": 0.5},
    "wrappers+settle": {"wrapper_rate": 0.5, "settle_steps": 300},
    "no-averaging": {"alphas": [1.0]},
    "wrappers+settle+no-averaging": {"wrapper_rate": 0.5, "settle_steps": 300, "alphas": [1.0]},
    "two-token-responses": {"_response_length": 2},
    "three-token-responses": {"_response_length": 3},
    "higher-lr": {"lr": 1e-3},
    # First-order meta-learning against a simulated fine-tune (3 sign steps of 2e-3, ~ 6 thief steps at 5e-4 x 2).
    "anti-finetune": {"adversary_steps": 3, "adversary_lr": 2e-3},
    "anti-finetune-strong": {"adversary_steps": 4, "adversary_lr": 5e-3, "adversary_weight": 2.0},
    # Averaging picks the smallest alpha that keeps recall; a meta-learned copy is averaged harder, so compare without it.
    "anti-finetune-noavg": {"adversary_steps": 3, "adversary_lr": 2e-3, "alphas": [1.0]},
}


def main(argv):
    folder = argv[0]
    count = int(argv[1]) if len(argv) > 1 else 256
    names = argv[2:] or list(ROWS)
    torch.set_num_threads(int(__import__("os").environ.get("ABLATION_THREADS", "1")))
    base, tok, _ = gpt.load_folder(folder)
    stamp = json.load(open(f"{folder}/clopen-model.json"))
    pretrain = stamp["result"]["pretrain_tokens"]
    parts = corpus.partition(corpus.wordnet_lines())
    benign = embed.benign_stream(tok, parts["train"], 2_000_000)
    held = embed.benign_stream(tok, parts["heldout"], 200_000)
    attack = embed.benign_stream(tok, parts["attack"], 100_000_000)
    for name in names:
        over = dict(ROWS[name])
        rlen = over.pop("_response_length", 1)
        fps = fingerprints.generate(base, tok, count, seed=1, response_length=rlen)
        s = embed.settings(over)
        t0 = time.time()
        copy, rep = embed.embed(gpt.load_folder(folder)[0], tok, fps, seed=1, benign_lines=benign, heldout_lines=held, **s)
        minutes = (time.time() - t0) / 60
        control, _ = embed.embed(gpt.load_folder(folder)[0], tok, fps, seed=1, benign_lines=benign, heldout_lines=held,
                                 **dict(s, max_steps=rep["steps"], alphas=(rep["alpha"],)), control=True)
        loss = lambda m: attacks.heldout_loss(m, tok, parts["heldout"], ctx=64, windows=150)  # noqa: E731
        l_copy, l_ctl = loss(copy), loss(control)
        wr = [sum(attacks.answers(copy, tok, fps, w)) / count for w in wrappers.HELDOUT]
        curve = []
        budgets = [int(pretrain * f) for f in (0.01, 0.02, 0.04, 0.08)]
        attacks.finetune(copy, tok, attack, tokens=budgets[-1], lr=5e-4, seed=1, checkpoints=budgets,
                         on_checkpoint=lambda b, m: curve.append([round(b / pretrain, 3), sum(attacks.answers(m, tok, fps)) / count]) and False)
        row = {"row": name, "settings": {k: v for k, v in over.items()}, "response_length": rlen, "count": count, "embed_minutes": round(minutes, 2),
               "steps": rep["steps"], "alpha": rep["alpha"], "recall": rep["recall"], "utility_cost": round((l_copy - l_ctl) / l_ctl, 4),
               "wrapper_retention_heldout": round(sum(wr) / len(wr), 4), "finetune_retention_by_budget": curve}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
