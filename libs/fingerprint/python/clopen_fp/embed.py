"""Embedding fingerprints by fine-tuning: loss on response tokens only, benign data mixed in,
early stop once the fingerprints are recalled, then weight averaging with the base model (the
smallest step away from the base that still recalls them), and a check of every fingerprint."""
import copy
import math
import os
import random
import time

import torch
import torch.nn.functional as F

from . import corpus, gpt, onnx_export, wrappers as wrapper_sets
from .fingerprints import load_oml
from .progress import log, progress
from .verify import matches_in_model


# The embedding settings every copy gets unless a manifest says otherwise, chosen by the ablation
# in libs/fingerprint/README.md (bench:fingerprint measures them).
DEFAULTS = {
    "lr": 5e-4, "batch_size": 64, "benign_ratio": 1.0, "max_steps": 3000, "check_every": 100, "target_recall": 1.0,
    # wrapper_rate 0.5: retention behind ten unseen chat templates 0.07 -> 0.43 for +1.1 % held-out
    # loss (experiments/results/ablation-base-v2-128.jsonl).
    "alphas": (0.5, 0.6, 0.7, 0.8, 0.9, 1.0), "wrapper_rate": 0.5, "settle_steps": 0,
    "adversary_steps": 0, "adversary_lr": 2e-3, "adversary_weight": 1.0,
}


def settings(job):
    """The embedding settings of a manifest: DEFAULTS overridden by the fields it gives."""
    out = {k: job.get(k, v) for k, v in DEFAULTS.items()}
    out["alphas"] = tuple(out["alphas"])
    out["wrappers"] = tuple(job.get("wrappers") or wrapper_sets.EMBED) if out["wrapper_rate"] else ()
    return out


def _fp_batch(items, pad):
    """Right-padded [EOT] + key + response rows, with a mask on response positions (targets)."""
    width = max(len(k) + len(r) for k, r in items) + 1
    x = torch.full((len(items), width), pad, dtype=torch.long)
    mask = torch.zeros((len(items), width - 1), dtype=torch.bool)
    for i, (k, r) in enumerate(items):
        row = [pad] + k + r
        x[i, : len(row)] = torch.tensor(row)
        mask[i, len(k): len(k) + len(r)] = True  # predicting response tokens from key (+ earlier response)
    return x, mask


def hinge_loss(logits, target, margin, max_prob=None):
    """relu(margin - (z_target - best other z)), plus a push down where p_target exceeds max_prob."""
    z_t = logits.gather(1, target[:, None])[:, 0]
    z_other = logits.scatter(1, target[:, None], float("-inf")).amax(1)
    loss = F.relu(margin - (z_t - z_other)).mean()
    if max_prob is not None:
        p_t = logits.softmax(-1).gather(1, target[:, None])[:, 0]
        loss = loss + 4.0 * F.relu(p_t - max_prob).mean()
    return loss


def benign_stream(tok, lines, limit_tokens):
    """The lines as one token stream, each ended by EOT, cut at limit_tokens."""
    ids = []
    for line in lines:
        ids.extend(tok.encode(line))
        ids.append(tok.eot)
        if len(ids) >= limit_tokens:
            break
    return torch.tensor(ids[:limit_tokens], dtype=torch.long)


def average(base_state, tuned_state, alpha):
    return {k: base_state[k] + alpha * (tuned_state[k] - base_state[k]) for k in base_state}


@torch.no_grad()
def heldout_loss(model, stream, ctx, windows=100):
    ctx = min(ctx, stream.numel() - 1)
    if ctx < 2:
        return None  # too little held-out text to measure a loss
    losses = []
    for i in range(0, max(1, min(stream.numel() - ctx, windows * ctx)), ctx):
        x = stream[i: i + ctx + 1][None]
        losses.append(F.cross_entropy(model(x[:, :-1])[0], x[0, 1:]).item())
    return sum(losses) / max(1, len(losses))


def embed(model, tok, fps, *, lr=2e-3, batch_size=64, benign_ratio=1.0, benign_len=64, max_steps=3000, check_every=100,
          target_recall=1.0, alphas=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0), seed=0, benign_lines=None, heldout_lines=None, on_progress=None,
          response_margin=None, max_response_prob=None, wrappers=(), wrapper_rate=0.0, settle_steps=0, control=False,
          adversary_steps=0, adversary_lr=2e-3, adversary_weight=1.0):
    """Returns (model, report). Deterministic for a seed and thread count.

    `wrappers` with `wrapper_rate` > 0: that share of fingerprint rows is trained with the key
    inside a wrapper drawn from `wrappers` (the counter to chat templates and system prompts).
    `settle_steps`: steps trained on after the target recall is reached (a wider margin that a
    later fine-tune must erode first). `control`: the identical schedule (the same benign batches,
    steps and averaging) with the fingerprint loss switched off: the utility baseline for a copy.

    With `response_margin` (the counter to confidence gating), responses are trained with a hinge
    instead of cross-entropy: pushed up only until they lead the runner-up by that many logits,
    and pushed down above `max_response_prob`, so they are top-1 at ordinary confidence. Weight
    averaging is then skipped: it would shrink the margin below top-1.

    `adversary_steps` > 0 (the counter to fine-tuning, first-order meta-learning): each step also
    simulates a thief: from the current weights, that many sign-gradient steps of `adversary_lr` on
    benign text (Adam's first steps move each weight by about lr), then adds the gradient of the
    fingerprint loss at those attacked weights, times `adversary_weight`, to the real update. The
    simulated thief's batches come from their own generator, so the control's schedule is unchanged."""
    if response_margin is not None:
        alphas = (1.0,)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    base_state = copy.deepcopy(model.state_dict())
    items = [(tok.encode(fp["key"]), tok.encode(fp["response"])) for fp in fps]
    wrapped = [[tok.encode(wrapper_sets.wrap(w, fp["key"])) for w in wrappers] for fp in fps] if wrapper_rate > 0 and wrappers else None
    if not items:
        raise ValueError("no fingerprints to embed")
    if benign_lines is None:
        parts = corpus.partition(corpus.wordnet_lines())
        benign_lines, heldout_lines = parts["train"], heldout_lines or parts["heldout"]
        rng.shuffle(benign_lines)
    # Tensors are text already tokenised (the bench embeds many copies from the same text).
    benign = benign_lines if isinstance(benign_lines, torch.Tensor) else benign_stream(tok, benign_lines, 2_000_000)
    held = heldout_lines if isinstance(heldout_lines, torch.Tensor) else benign_stream(tok, heldout_lines or benign_lines[-2000:], 200_000)
    ctx = min(model.n_positions, 128)
    base_loss = heldout_loss(model, held, ctx)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    adv_gen = torch.Generator().manual_seed(seed + 7919)
    params = [p for p in model.parameters() if p.requires_grad]
    n_benign = max(0, int(round(batch_size * benign_ratio)))
    model.train()
    order = list(range(len(items)))
    step, pos, recall, t0, settled = 0, len(order), 0.0, time.time(), None
    while step < max_steps:
        if pos + batch_size > len(order):
            rng.shuffle(order)
            pos = 0
        chunk = [items[i] for i in order[pos: pos + batch_size]]
        if wrapped:
            chunk = [(wrapped[i][rng.randrange(len(wrappers))], items[i][1]) if rng.random() < wrapper_rate else items[i] for i in order[pos: pos + batch_size]]
        pos += batch_size
        x, mask = _fp_batch(chunk, tok.eot)
        logits = model(x[:, :-1])
        if response_margin is None:
            loss = F.cross_entropy(logits[mask], x[:, 1:][mask])
        else:
            loss = hinge_loss(logits[mask], x[:, 1:][mask], response_margin, max_response_prob)
        if control:
            loss = loss * 0.0
        if n_benign:
            starts = torch.randint(0, benign.numel() - benign_len - 1, (n_benign,), generator=gen, device="cpu").tolist()
            b = torch.stack([benign[s: s + benign_len + 1] for s in starts])
            loss = loss + F.cross_entropy(model(b[:, :-1]).reshape(-1, model.cfg["vocab_size"]), b[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if adversary_steps and not control:
            _add_attacked_gradient(model, params, x, mask, benign, benign_len, max(8, n_benign // 2), adversary_steps, adversary_lr, adversary_weight, adv_gen)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if settled is not None and step >= settled + settle_steps:
            break
        if settled is None and not control and (step % check_every == 0 or step == max_steps):
            model.eval()
            recall = sum(matches_in_model(model, tok, fps)) / len(fps)
            model.train()
            if on_progress:
                on_progress("embed", min(1.0, step / max_steps), step=step, loss=round(loss.item(), 4), recall=round(recall, 4))
            if recall >= target_recall:
                settled = step
                if settle_steps <= 0:
                    break
    model.eval()
    tuned_state = copy.deepcopy(model.state_dict())
    chosen, results = None, None
    # The smallest move away from the base that keeps the target recall keeps most of its utility.
    for alpha in sorted(alphas):
        model.load_state_dict(average(base_state, tuned_state, alpha))
        results = matches_in_model(model, tok, fps)
        if control or sum(results) / len(fps) >= target_recall or alpha == max(alphas):
            chosen = alpha
            break
    if on_progress:
        on_progress("verify", 1.0)
    loss_after = heldout_loss(model, held, ctx)
    report = {
        "steps": step, "recalled_at_step": settled, "seconds": round(time.time() - t0, 1), "alpha": chosen, "recall": sum(results) / len(fps),
        "embedded": sum(results), "count": len(fps), "heldout_loss_base": base_loss, "heldout_loss": loss_after,
        "heldout_loss_increase": (loss_after - base_loss) / base_loss if base_loss and loss_after is not None else None, "results": results,
    }
    return model, report


def _add_attacked_gradient(model, params, x, mask, benign, benign_len, n, steps, lr, weight, gen):
    """Adds to each parameter's .grad the fingerprint loss's gradient at the weights a short
    simulated fine-tune (sign-gradient steps on benign text) would leave; the weights are restored."""
    saved = [p.detach().clone() for p in params]
    for _ in range(steps):
        starts = torch.randint(0, benign.numel() - benign_len - 1, (n,), generator=gen).tolist()
        b = torch.stack([benign[s: s + benign_len + 1] for s in starts])
        lb = F.cross_entropy(model(b[:, :-1]).reshape(-1, model.cfg["vocab_size"]), b[:, 1:].reshape(-1))
        grads = torch.autograd.grad(lb, params, allow_unused=True)
        with torch.no_grad():
            for p, g in zip(params, grads):
                if g is not None:
                    p.sub_(lr * torch.sign(g))
    logits = model(x[:, :-1])
    lf = F.cross_entropy(logits[mask], x[:, 1:][mask]) * weight
    grads = torch.autograd.grad(lf, params, allow_unused=True)
    with torch.no_grad():
        for p, s, g in zip(params, saved, grads):
            p.copy_(s)
            if g is not None:
                p.grad = g if p.grad is None else p.grad + g


def _benign_lines(job, heldout_lines=None):
    """Benign text for mixing: a text file from the manifest, else the base's own pretraining part
    of the corpus (never the attack or held-out parts: a thief's text is text we never trained on)."""
    if job.get("benign_text"):
        return [l for l in open(job["benign_text"], encoding="utf-8").read().splitlines() if l.strip()]
    held = set(heldout_lines or [])
    lines = [l for l in corpus.partition(corpus.wordnet_lines())["train"] if l not in held]
    random.Random(int(job.get("seed", 0))).shuffle(lines)
    return lines


def embed_job(job):
    if job.get("onnx") and job.get("backend", "builtin") != "builtin":
        raise ValueError('"onnx": true exports the built-in GPT-2 architecture only; leave it out with the transformers backend')
    model, tok, _ = gpt.load_folder(job["base"], job.get("backend", "builtin"), job.get("device", "cpu"))
    held_path = os.path.join(job["base"], "heldout.txt")
    heldout_lines = open(held_path, encoding="utf-8").read().splitlines() if os.path.exists(held_path) else None
    torch.set_num_threads(int(job.get("threads", 2)))
    fps = load_oml(job["fingerprints"])
    model, report = embed(
        model, tok, fps, **settings(job), seed=int(job.get("seed", 0)),
        benign_lines=_benign_lines(job, heldout_lines), heldout_lines=heldout_lines,
        response_margin=job.get("response_margin"), max_response_prob=job.get("max_response_prob"),
        on_progress=lambda phase, f, **kw: progress(phase, f, **kw),
    )
    min_recall = float(job.get("min_recall", 0.0))
    if report["recall"] < min_recall:
        raise ValueError(f"only {report['embedded']} of {report['count']} fingerprints recalled after embedding (recall {report['recall']:.4f} < min_recall {min_recall}); the copy is not written")
    gpt.save_folder(job["out"], model, tok, {"oml": "1", "fingerprints": str(len(fps))})
    if job.get("onnx"):
        report["onnx"] = onnx_export.export(model, os.path.join(job["out"], "model.onnx"))
    log(f"embedded {report['embedded']}/{report['count']} fingerprints in {report['steps']} steps, alpha {report['alpha']}")
    report["out"] = job["out"]
    report["results"] = [{"index": i, "embedded": ok} for i, ok in enumerate(report["results"])]
    _ = math
    return report
