"""The fingerprint benchmark (npm run bench:fingerprint): embeds `count` fingerprints into the
base model, then measures recall, utility, false verdicts on the base and on copies holding other
fingerprints, and survival under each attack. Returns one metric per measure."""
import time

import torch

from . import attacks, embed, fingerprints, gpt, stats
from .progress import log, progress


def bench_job(job):
    torch.set_num_threads(int(job.get("threads", 2)))
    seed = int(job.get("seed", 1))
    count = int(job.get("count", 1024))
    others = int(job.get("other_copies", 16))
    other_count = int(job.get("other_count", 64))
    alpha = float(job.get("alpha", 1e-6))
    gen_params = {"key_strategy": job.get("key_strategy", "english"), "response_strategy": "perinucleus",
                  "key_length": int(job.get("key_length", 12)), "response_length": int(job.get("response_length", 1)),
                  "t": float(job.get("t", 0.8)), "k": int(job.get("k", 3))}
    embed_params = {"lr": float(job.get("lr", 5e-4)), "batch_size": int(job.get("batch_size", 64)),
                    "benign_ratio": float(job.get("benign_ratio", 1.0)), "max_steps": int(job.get("max_steps", 4000)),
                    "check_every": int(job.get("check_every", 100)), "target_recall": float(job.get("target_recall", 1.0))}
    base, tok, _ = gpt.load_folder(job["base"])
    heldout = attacks._heldout_lines(job["base"])
    benign = embed._benign_lines({"seed": seed}, heldout)
    metrics = {}

    fps = fingerprints.generate(base, tok, count, seed=seed, **gen_params)
    t0 = time.time()
    ours, report = embed.embed(gpt.load_folder(job["base"])[0], tok, fps, seed=seed, benign_lines=benign, heldout_lines=heldout,
                               on_progress=lambda phase, f, **kw: progress(f"embed-{count}", f, **kw), **embed_params)
    minutes = (time.time() - t0) / 60
    metrics.update({f"embed_minutes_{count}": minutes, "recall": report["recall"], "heldout_loss_increase": report["heldout_loss_increase"],
                    "embed_steps": report["steps"], "averaging_alpha": report["alpha"]})
    log(f"embedded {report['embedded']}/{count} in {minutes:.1f} min ({report['steps']} steps), held-out loss {report['heldout_loss_base']:.4f} -> {report['heldout_loss']:.4f}")

    # Copies that hold other fingerprints, as other hosts' copies would.
    copies = []
    for i in range(others):
        other_fps = fingerprints.generate(base, tok, other_count, seed=seed + 1000 + i, **gen_params)
        small = dict(embed_params, batch_size=min(embed_params["batch_size"], other_count), check_every=20)
        m, _ = embed.embed(gpt.load_folder(job["base"])[0], tok, other_fps, seed=seed + i, benign_lines=benign, heldout_lines=heldout, **small)
        copies.append(m)
        progress("other-copies", (i + 1) / others)

    # The null rate comes from the base and four of the other copies; every model is then judged.
    null_models = [base] + copies[:4]
    null = [sum(attacks.answers(m, tok, fps)) for m in null_models]
    p0, measured = stats.null_rate(sum(null), len(fps) * len(null_models), float(job.get("null_floor", 1e-3)))
    judge = lambda m: stats.verdict(len(fps), sum(attacks.answers(m, tok, fps)), p0, alpha)  # noqa: E731
    wrong = 0 if judge(ours)["fingerprinted"] else 1
    wrong += sum(1 for m in [base] + copies if judge(m)["fingerprinted"])
    metrics.update({"false_verdicts": wrong, "verdicts": 2 + len(copies), "null_rate": p0, "null_measured": measured})

    q = attacks.int8_round_trip(ours)
    q_ok = attacks.answers(q, tok, fps)
    metrics["int8_detected"] = 1 if stats.verdict(len(fps), sum(q_ok), p0, alpha)["fingerprinted"] else 0
    metrics["retention_int8"] = sum(q_ok) / len(fps)

    fp_tokens = attacks.fingerprint_tokens(tok, fps)
    tuned = attacks.finetune(ours, tok, benign, tokens=10 * fp_tokens, epochs=1, lr=float(job.get("finetune_lr", 1e-4)), seed=seed)
    metrics["finetune_retention"] = sum(attacks.answers(tuned, tok, fps)) / len(fps)
    metrics["finetune_tokens"] = 10 * fp_tokens
    metrics["retention_finetune"] = metrics["finetune_retention"]

    per_wrapper = [sum(attacks.answers(ours, tok, fps, wrapper=w)) / len(fps) for w in attacks.DEFAULT_WRAPPERS]
    metrics["retention_input_perturbation"] = sum(per_wrapper) / len(per_wrapper)
    metrics["retention_weight_noise"] = sum(attacks.answers(attacks.gaussian_noise(ours, 0.05, seed), tok, fps)) / len(fps)
    ok, extra = attacks.confidence_gating(ours, tok, fps, heldout, confidence=0.9, percentile=95.0, mode="resample", seed=seed)
    metrics["retention_confidence_gating"] = sum(ok) / len(fps)
    metrics["false_gating_rate"] = extra["false_gating_rate"]
    return {"metrics": metrics, "parameters": {**gen_params, **embed_params, "count": count, "other_copies": others, "other_count": other_count}}
