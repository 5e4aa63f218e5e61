"""The core of bench:fingerprint at full scale on base-v2 when the whole bench does not fit in the
time at hand: 1024 fingerprints at the engine defaults, utility against the control, unseen
wrappers, int8/int4, and the erasure search at lr 5e-4 and 1e-3. p0 is the largest per-model 99 %
bound of the three independent bases (experiments/results/null-and-convergence-base-v2.jsonl,
1.62e-3); the bound on other owners' copies is not measured here (the full bench does).

    cd libs/fingerprint/python && /usr/bin/python3 -m experiments.full_scale_core ../models/base-v2 ['{"alphas": [1.0]}']

The optional second argument overrides embedding settings (as a manifest's fields would)."""
import json
import sys
import time

from clopen_fp import bench


def main(argv):
    folder = argv[0]
    stamp = json.load(open(f"{folder}/clopen-model.json"))
    over = json.loads(argv[1]) if len(argv) > 1 else {}
    b = bench.Bench({"base": folder, "pretrain_tokens": stamp["result"]["pretrain_tokens"], "seed": 1, "embed": over})
    t0 = time.time()
    b.copy_and_control(1024)
    b.p0 = 1.62e-3
    b.m["null_rate_used"] = b.p0
    b.weight_attacks()
    b.wrapper_attacks()
    for k, v in b.m.items():
        print(json.dumps({"bench": "fingerprint-core", "metric": k, "value": v}), flush=True)
    b.erase(5e-4, "")
    print(json.dumps({"bench": "fingerprint-core", "metric": "erase_tokens_ratio", "value": b.m["erase_tokens_ratio"]}), flush=True)
    b.erase(1e-3, "_lr1e-3")
    print(json.dumps({"bench": "fingerprint-core", "metric": "erase_tokens_ratio_lr1e-3", "value": b.m["erase_tokens_ratio_lr1e-3"]}), flush=True)
    print(json.dumps({"bench": "fingerprint-core", "metric": "minutes", "value": (time.time() - t0) / 60}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
