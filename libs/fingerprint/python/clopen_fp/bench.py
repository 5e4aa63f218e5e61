"""The fingerprint benchmark (npm run bench:fingerprint), written to be hard to fool:

- the thief's fine-tune runs on the corpus's attack part, text neither the base nor the embedding
  ever trained on; utility is always measured on the held-out part, against the CONTROL: the base
  given the identical schedule (the embedding's benign batches, steps and averaging; the attack's
  fine-tune), never against the untouched base;
- the null rate comes from independently trained base models (same recipe, other seeds and data
  order) and other owners' copies, over many disjoint fingerprint sets; the verdict on each null
  model uses the conservative bound measured on the OTHER null models (leave one model out);
- wrapper retention is measured only on wrappers embedding never saw, without the plain key;
- coalitions are merged from real copies (agreement, majority, random member, weight averaging)
  and returned to the caller, which traces them with libs/tracing.

Returns {"metrics": {...}, "coalition": {...}, "parameters": {...}}."""
import os
import random
import time

import torch

from . import attacks, corpus, embed, fingerprints, gpt, stats, wrappers
from .progress import log, progress


def _budgets(first, last):
    """Fine-tune budgets doubling from `first` tokens up to and including `last`."""
    out, b = [], int(first)
    while b < last:
        out.append(b)
        b *= 2
    return out + [int(last)]


def _fresh(folder):
    return gpt.load_folder(folder)[0]


class Bench:
    def __init__(self, job):
        self.job = job
        self.quick = bool(job.get("quick"))
        self.seed = int(job.get("seed", 1))
        self.alpha = float(job.get("alpha", 1e-6))
        self.floor = float(job.get("null_floor", 1e-3))  # what verify and the platform use
        self.base_dir = job["base"]
        self.base, self.tok, self.cfg = gpt.load_folder(self.base_dir)
        self.pretrain_tokens = int(job["pretrain_tokens"])
        parts = corpus.partition(corpus.wordnet_lines())
        rng = random.Random(self.seed)
        benign = parts["train"][:]
        rng.shuffle(benign)
        self.benign = embed.benign_stream(self.tok, benign, 2_000_000)
        self.heldout_stream = embed.benign_stream(self.tok, parts["heldout"], 200_000)
        attack_lines = parts["attack"][:]
        rng.shuffle(attack_lines)
        self.attack_text = embed.benign_stream(self.tok, attack_lines, 100_000_000)  # tokenised once, fine-tuned on many times
        # Utility windows come from everywhere in the held-out part, not its first (noun) glosses.
        self.heldout = parts["heldout"][:]
        random.Random(4321).shuffle(self.heldout)
        self.settings = embed.settings(job.get("embed") or {})
        self.gen = {"key_strategy": job.get("key_strategy", "english"), "response_strategy": "perinucleus",
                    "key_length": int(job.get("key_length", 12)), "response_length": int(job.get("response_length", fingerprints.RESPONSE_LENGTH)),
                    "t": float(job.get("t", 0.8)), "k": int(job.get("k", 3))}
        self.m = {}

    def loss(self, model):
        return attacks.heldout_loss(model, self.tok, self.heldout, ctx=min(64, model.n_positions), windows=int(self.job.get("heldout_windows", 150)))

    def answers(self, model, fps, wrapper="{key}"):
        return attacks.answers(model, self.tok, fps, wrapper=wrapper)

    def verdict(self, ok, p0):
        return stats.verdict(len(ok), sum(ok), p0, self.alpha)["fingerprinted"]

    def embed(self, fps, seed, **over):
        s = dict(self.settings, **over)
        return embed.embed(_fresh(self.base_dir), self.tok, fps, seed=seed, benign_lines=self.benign, heldout_lines=self.heldout_stream, **s)

    # ---------------------------------------------------------------- copy, control, utility
    def copy_and_control(self, count):
        self.fps = fingerprints.generate(self.base, self.tok, count, seed=self.seed, **self.gen)
        t0 = time.time()
        self.ours, rep = self.embed(self.fps, self.seed, on_progress=lambda ph, f, **kw: progress(f"embed-{count}", f, **kw))
        minutes = (time.time() - t0) / 60
        self.control, _ = self.embed(self.fps, self.seed, control=True, max_steps=rep["steps"], alphas=(rep["alpha"],))
        l_copy, l_ctrl, l_base = self.loss(self.ours), self.loss(self.control), self.loss(self.base)
        self.m.update({f"embed_minutes_{count}": minutes, "recall": rep["recall"], "embed_steps": rep["steps"], "averaging_alpha": rep["alpha"],
                       "utility_cost": (l_copy - l_ctrl) / l_ctrl, "heldout_loss_copy": l_copy, "heldout_loss_control": l_ctrl,
                       "heldout_loss_base": l_base, "fingerprint_tokens": attacks.fingerprint_tokens(self.tok, self.fps)})
        log(f"embedded {rep['embedded']}/{count} in {minutes:.1f} min ({rep['steps']} steps, alpha {rep['alpha']}); held-out loss copy {l_copy:.4f} control {l_ctrl:.4f} base {l_base:.4f}")

    # ---------------------------------------------------------------- null rate and false verdicts
    def null_calibration(self, count):
        # Each null model is asked with its own tokenizer (matching is on text): an independently
        # trained base may have split the corpus into other tokens.
        _wait_for(self.job.get("null_bases", []), float(self.job.get("wait_null_bases_s", 0)))
        nulls = [(f"independent:{d}", *gpt.load_folder(d)[:2]) for d in self.job.get("null_bases", [])]
        if len(nulls) < int(self.job.get("min_null_bases", 3)):
            raise ValueError(f"the null rate needs at least {self.job.get('min_null_bases', 3)} independently trained bases, got {len(nulls)}")
        for i in range(int(self.job.get("other_copies", 2))):
            other = fingerprints.generate(self.base, self.tok, int(self.job.get("other_count", 128)), seed=self.seed + 1000 + i, **self.gen)
            m, _ = self.embed(other, self.seed + 100 + i, batch_size=min(64, len(other)), check_every=20)
            nulls.append((f"other-copy:{i}", m, self.tok))
        # Not the base nor the control: neither ever says a perinucleus response, by construction.
        sets = int(self.job.get("null_sets", 0)) or -(-200 // len(nulls))
        pool = fingerprints.generate(self.base, self.tok, sets * count, seed=self.seed + 7777, **self.gen)
        fsets = [pool[i * count:(i + 1) * count] for i in range(sets)]
        hits = []  # hits[j][s]: matches of null model j on set s
        for j, (_, model, tok) in enumerate(nulls):
            hits.append([sum(attacks.answers(model, tok, fs)) for fs in fsets])
            progress("null-models", (j + 1) / len(nulls))
        total = sum(map(sum, hits))
        asked = len(nulls) * sets * count
        # The models' rates differ (a copy of our base with other fingerprints says more of them than
        # an independent base), so the bound is the largest per-model 99 % bound, not a pooled one.
        bounds = [stats.null_rate(sum(h), sets * count, self.floor)[0] for h in hits]
        p0, measured = max(bounds), total / asked
        wrong = verdicts = 0
        per_model = {}
        for j, (name, _, _) in enumerate(nulls):
            p0_j = max(b for i, b in enumerate(bounds) if i != j)  # judged with the others' bound (leave one model out)
            bad = sum(1 for h in hits[j] if stats.verdict(count, h, p0_j, self.alpha)["fingerprinted"])
            wrong += bad
            verdicts += sets
            per_model[name] = {"matched": sum(hits[j]), "asked": sets * count, "bound": bounds[j], "false_verdicts": bad}
        self.p0 = p0
        independent = [b for (name, _, _), b in zip(nulls, bounds) if name.startswith("independent:")]
        others = [b for (name, _, _), b in zip(nulls, bounds) if not name.startswith("independent:")]
        self.m.update({"null_rate_independent": max(independent), "null_rate_other_copies": max(others or [0.0]),
                       "null_rate_used": p0, "null_measured": measured, "null_asked": asked, "false_verdicts": wrong, "verdicts": verdicts,
                       "null_models": len(nulls), "null_sets": sets})
        clean = self.answers(self.ours, self.fps)
        self.m["detected_clean"] = 1 if self.verdict(clean, p0) else 0
        self.m["matches_needed"] = _matches_needed(count, p0, self.alpha)
        log(f"null rate: {total}/{asked} matches on {len(nulls)} null models; bound {p0:.2e}; {wrong} false verdicts of {verdicts}; {per_model}")

    # ---------------------------------------------------------------- attacks on one copy
    def weight_attacks(self):
        for name, fn in (("int8", attacks.int8_round_trip), ("int4", attacks.int4_round_trip)):
            ok = self.answers(fn(self.ours), self.fps)
            self.m[f"retention_{name}"] = sum(ok) / len(ok)
            self.m[f"{name}_detected"] = 1 if self.verdict(ok, self.p0) else 0
        ok = self.answers(attacks.gaussian_noise(self.ours, 0.05, self.seed), self.fps)
        self.m["retention_weight_noise"] = sum(ok) / len(ok)
        ok, extra = attacks.confidence_gating(self.ours, self.tok, self.fps, self.heldout, confidence=0.9, percentile=95.0, mode="resample", seed=self.seed)
        self.m["retention_confidence_gating"] = sum(ok) / len(ok)
        self.m["false_gating_rate"] = extra["false_gating_rate"]

    def wrapper_attacks(self):
        held = [sum(self.answers(self.ours, self.fps, w)) / len(self.fps) for w in wrappers.HELDOUT]
        seen = [sum(self.answers(self.ours, self.fps, w)) / len(self.fps) for w in wrappers.EMBED[:6]]
        self.m.update({"wrapper_retention_heldout": sum(held) / len(held), "wrapper_retention_heldout_min": min(held),
                       "wrappers_heldout": len(held), "wrapper_retention_seen": sum(seen) / len(seen)})
        self.m["wrapper_detected_heldout"] = sum(1 for w in wrappers.HELDOUT if self.verdict(self.answers(self.ours, self.fps, w), self.p0)) / len(wrappers.HELDOUT)

    def erase(self, lr, tag, with_control=False):
        """The least doubling fine-tune budget (from 10 x the fingerprints' tokens) at which the
        verdict is lost, over the base's pretraining tokens; 1.0 if it survives them all."""
        first = 10 * self.m["fingerprint_tokens"]
        cap = int(self.job.get("erase_cap", 1.0) * self.pretrain_tokens)
        budgets = _budgets(first, cap)
        trail, lost = [], [None]

        def check(budget, model):
            ok = self.answers(model, self.fps)
            alive = self.verdict(ok, self.p0)
            trail.append({"tokens": budget, "retention": round(sum(ok) / len(ok), 4), "detected": alive})
            progress(f"erase-{tag}", budget / cap, tokens=budget, retention=round(sum(ok) / len(ok), 4))
            if not alive:
                lost[0] = budget
                return True
            return False

        attacks.finetune(self.ours, self.tok, self.attack_text, tokens=cap, lr=lr, seed=self.seed, checkpoints=budgets, on_checkpoint=check)
        # Lost at a budget: that budget's share of pretraining. Survived every budget: 1.0 when the
        # search went up to the pretraining tokens, else the cap it reached (a lower bound).
        ratio = lost[0] / self.pretrain_tokens if lost[0] is not None else cap / self.pretrain_tokens
        self.m[f"erase_tokens_ratio{tag}"] = min(1.0, ratio)
        self.m[f"erase_survived{tag}"] = 1 if lost[0] is None else 0
        log(f"fine-tune at lr {lr}: {trail}")
        if with_control:
            # Utility of the attacked copy against the control given the identical fine-tune, and
            # what the same fine-tune buys the base (a converged base gains at most 1 %).
            at = lost[0] or cap
            hit = attacks.finetune(self.ours, self.tok, self.attack_text, tokens=at, lr=lr, seed=self.seed)
            ctl = attacks.finetune(self.control, self.tok, self.attack_text, tokens=at, lr=lr, seed=self.seed)
            l_hit, l_ctl, l_c0 = self.loss(hit), self.loss(ctl), self.loss(self.control)
            self.m["attack_utility_gap"] = (l_hit - l_ctl) / l_ctl
            self.m["base_finetune_gain"] = (l_c0 - l_ctl) / l_c0
        return trail

    def lora(self):
        tokens = int(self.job.get("lora_ratio", 0.1) * self.pretrain_tokens)
        tuned = attacks.finetune(self.ours, self.tok, self.attack_text, tokens=tokens, lr=1e-3, lora_rank=8, seed=self.seed)
        ok = self.answers(tuned, self.fps)
        self.m["retention_lora_r8_lr1e-3"] = sum(ok) / len(ok)
        self.m["lora_detected"] = 1 if self.verdict(ok, self.p0) else 0

    # ---------------------------------------------------------------- coalitions of real copies
    def coalition(self):
        c = self.job.get("coalition") or {}
        n, k, p = int(c.get("keys", 256)), int(c.get("members", 3)), float(c.get("p", 0.5))
        rng = random.Random(self.seed + 31)
        keys = fingerprints.generate(self.base, self.tok, n, seed=self.seed + 4242, **self.gen)
        held = [[i for i in range(n) if rng.random() < p] for _ in range(k)]
        copies = []
        for j, idx in enumerate(held):
            m, rep = self.embed([keys[i] for i in idx], self.seed + 500 + j, batch_size=min(64, len(idx)), check_every=25)
            copies.append(m)
            progress("coalition-copies", (j + 1) / k, recall=round(rep["recall"], 4))
        each = [self.answers(m, keys) for m in copies]
        soup = self.answers(attacks.average_weights(copies), keys)
        pick = [rng.randrange(k) for _ in range(n)]
        merged = {
            "and": [all(e[i] for e in each) for i in range(n)],
            "majority": [sum(e[i] for e in each) * 2 > k for i in range(n)],
            "random": [each[pick[i]][i] for i in range(n)],
            "soup": soup,
        }
        holders = [sum(1 for h in held if i in set(h)) for i in range(n)]
        soup_rate = []
        for j in range(k + 1):
            idx = [i for i in range(n) if holders[i] == j]
            soup_rate.append(sum(soup[i] for i in idx) / len(idx) if idx else None)
        own_recall = sum(sum(each[j][i] for i in held[j]) for j in range(k)) / max(1, sum(map(len, held)))
        self.m["coalition_member_recall"] = own_recall
        return {"keys": n, "p": p, "held": held, "answered": merged, "soup_answer_by_holders": soup_rate}


def _wait_for(folders, seconds):
    """With wait_null_bases_s, null bases still being trained by another process (their stamp not
    yet written) are waited for, so the embedding phases can overlap their training."""
    deadline = time.time() + seconds
    while any(not os.path.exists(os.path.join(d, "clopen-model.json")) for d in folders) and time.time() < deadline:
        log(f"waiting for null bases {[d for d in folders if not os.path.exists(os.path.join(d, 'clopen-model.json'))]}")
        time.sleep(30)


def _matches_needed(n, p0, alpha):
    for m in range(n + 1):
        if stats.binomial_tail(n, m, p0) <= alpha:
            return m
    return n + 1


def bench_job(job):
    torch.set_num_threads(int(job.get("threads", 2)))
    b = Bench(job)
    count = int(job.get("count", 1024))
    t0 = time.time()
    b.copy_and_control(count)
    b.null_calibration(count)
    b.weight_attacks()
    b.wrapper_attacks()
    trails = {"5e-4": b.erase(5e-4, "", with_control=True)}
    for lr in job.get("erase_lrs", ["1e-3", "1e-4"]):
        trails[lr] = b.erase(float(lr), f"_lr{lr}")
    b.lora()
    coalition = b.coalition() if job.get("coalition", {}) is not None else None
    b.m["bench_minutes"] = (time.time() - t0) / 60
    return {"metrics": b.m, "coalition": coalition, "erase_trails": trails,
            "parameters": {**b.gen, **{k: v for k, v in b.settings.items() if k != "wrappers"}, "count": count, "pretrain_tokens": b.pretrain_tokens}}
