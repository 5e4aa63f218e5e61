"""Two cheap full-scale checks on the shipped base-v2 (the full bench:fingerprint did not finish in
the session that wrote this, on 2 cores shared with the null bases' training):

    cd libs/fingerprint/python && /usr/bin/python3 -m experiments.null_and_convergence ../models/base-v2 ~/.../base-v2-seed1235 ...

1. null rate: 4096 fresh perinucleus fingerprints of base-v2 asked of each independently trained
   base (same recipe, seeds 1235-1237, each with its own tokenizer): matches and 99 % bounds;
2. convergence: base-v2 fine-tuned the thief's way (AdamW lr 5e-4, wd 0.01, 32 x 64 tokens) on
   the attack part at 2, 4, 8 and 16 % of its pretraining tokens: relative held-out loss change."""
import json
import random
import sys

import torch

from clopen_fp import attacks, corpus, embed, fingerprints, gpt, stats


def main(argv):
    torch.set_num_threads(1)
    base_dir, nulls = argv[0], argv[1:]
    base, tok, _ = gpt.load_folder(base_dir)
    stamp = json.load(open(f"{base_dir}/clopen-model.json"))
    pretrain = stamp["result"]["pretrain_tokens"]
    fps = fingerprints.generate(base, tok, 4096, seed=99)
    for d in nulls:
        m, t, _ = gpt.load_folder(d)
        hits = sum(attacks.answers(m, t, fps))
        print(json.dumps({"check": "null", "model": d.rstrip("/").split("/")[-1], "asked": len(fps), "matched": hits,
                          "bound99": stats.null_rate(hits, len(fps), 0.0)[0]}), flush=True)
    parts = corpus.partition(corpus.wordnet_lines())
    held = parts["heldout"][:]
    random.Random(4321).shuffle(held)
    attack = embed.benign_stream(tok, parts["attack"], 100_000_000)
    loss0 = attacks.heldout_loss(base, tok, held, ctx=64, windows=150)
    out = []
    budgets = [int(pretrain * f) for f in (0.02, 0.04, 0.08, 0.16)]

    def check(b, m):
        loss = attacks.heldout_loss(m, tok, held, ctx=64, windows=150)
        out.append([round(b / pretrain, 3), round((loss0 - loss) / loss0, 4)])
        print(json.dumps({"check": "convergence", "finetune_ratio": round(b / pretrain, 3), "heldout_gain": round((loss0 - loss) / loss0, 4)}), flush=True)

    attacks.finetune(base, tok, attack, tokens=budgets[-1], lr=5e-4, seed=1, checkpoints=budgets, on_checkpoint=check)


if __name__ == "__main__":
    main(sys.argv[1:])
