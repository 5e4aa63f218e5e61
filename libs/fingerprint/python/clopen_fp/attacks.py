"""What a model host may do to a fingerprinted model, and the harness a model owner runs to choose
embedding parameters before release: each attack reports the share of fingerprints still answered
exactly (greedy decoding) and the verdict a verifier would then reach.

Attacks: benign fine-tuning, prompt wrappers around the key, int8 round trip and Gaussian weight
noise, and confidence gating (the output suppression of arXiv 2509.26598: a host that withholds
over-confident tokens on unusual inputs). `embed_moderate` is the counter to gating: it embeds
fingerprints only until each response is the top token by a margin, never near certainty.

Entry point: attack_job({"job": "attack", "model", "base", "fingerprints", "attacks": [...], "seed"})."""
import copy
import math
import os
import random

import torch
import torch.nn.functional as F

from . import embed, corpus, gpt, stats, wrappers as wrapper_sets
from .cli import ManifestError
from .fingerprints import load_oml
from .progress import log, progress

ATTACKS = ("finetune", "input_perturbation", "weight_perturbation", "confidence_gating")
# Measurement only: wrappers embedding never trains on (see wrappers.py).
DEFAULT_WRAPPERS = wrapper_sets.HELDOUT
GATE_MODES = ("refuse", "resample")


class AttackSpecError(ManifestError):
    """A bad attack spec: the CLI reports it as bad_manifest (exit 2)."""


# ---------------------------------------------------------------- decoding under attack

class ConfidenceGate:
    """A host's output filter: on an input whose perplexity exceeds `perplexity`, a token whose
    probability exceeds `confidence` is withheld (refuse: no answer) or replaced by the runner-up (resample)."""

    def __init__(self, confidence, perplexity, mode="resample"):
        if mode not in GATE_MODES:
            raise AttackSpecError(f"gate mode must be one of {GATE_MODES}, got {mode!r}")
        if not 0.0 < confidence <= 1.0:
            raise AttackSpecError(f"gate confidence must be in (0, 1], got {confidence}")
        self.confidence, self.perplexity, self.mode = float(confidence), float(perplexity), mode


def _groups(lengths, size=256):
    by_len = {}
    for i, n in enumerate(lengths):
        by_len.setdefault(n, []).append(i)
    for idxs in by_len.values():
        for s in range(0, len(idxs), size):
            yield idxs[s:s + size]


@torch.no_grad()
def prompt_perplexity(model, prompts):
    """exp(mean next-token loss) of each prompt (token-id lists starting with EOT) under the model."""
    out = [float("inf")] * len(prompts)
    for idxs in _groups([len(p) for p in prompts]):
        x = torch.tensor([prompts[i][-model.n_positions:] for i in idxs])
        if x.shape[1] < 2:
            continue
        logits = model(x[:, :-1])
        nll = F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none").mean(1)
        for j, i in enumerate(idxs):
            out[i] = math.exp(float(nll[j]))
    return out


@torch.no_grad()
def decode(model, prompts, n, gate=None):
    """n greedy tokens after each prompt, optionally through a gate. Returns (tokens or None when
    the host refused, gate fired) per prompt."""
    unusual = [False] * len(prompts)
    if gate is not None:
        unusual = [p > gate.perplexity for p in prompt_perplexity(model, prompts)]
    out = [None] * len(prompts)
    for idxs in _groups([len(p) for p in prompts]):
        x = torch.tensor([prompts[i] for i in idxs])
        watch = torch.tensor([unusual[i] for i in idxs])
        fired = torch.zeros(len(idxs), dtype=torch.bool)
        gen = []
        for _ in range(n):
            probs = model(x)[:, -1].softmax(-1)
            top = probs.topk(2, -1)
            nxt = top.indices[:, 0]
            if gate is not None:
                hit = watch & (top.values[:, 0] > gate.confidence)
                fired |= hit
                if gate.mode == "resample":
                    nxt = torch.where(hit, top.indices[:, 1], nxt)
            gen.append(nxt)
            x = torch.cat([x, nxt[:, None]], 1)
        toks = torch.stack(gen, 1).tolist()
        for j, i in enumerate(idxs):
            refused = gate is not None and gate.mode == "refuse" and bool(fired[j])
            out[i] = (None if refused else toks[j], bool(fired[j]))
    return out


def wrap(wrapper, key):
    try:
        return wrapper_sets.wrap(wrapper, key)
    except ValueError as e:
        raise AttackSpecError(str(e)) from e


def answers(model, tok, fps, wrapper="{key}", gate=None):
    """One bool per fingerprint: is the greedy answer to the (wrapped) key exactly the response?"""
    prompts = [[tok.eot] + tok.encode(wrap(wrapper, fp["key"])) for fp in fps]
    resp = [tok.encode(fp["response"]) for fp in fps]
    ok = [False] * len(fps)
    for idxs in _groups([len(r) for r in resp], size=10**9):
        n = len(resp[idxs[0]])
        for i, (toks, _) in zip(idxs, decode(model, [prompts[i] for i in idxs], n, gate)):
            ok[i] = toks is not None and tok.decode(toks) == fps[i]["response"]
    return ok


# ---------------------------------------------------------------- the attacks

def fingerprint_tokens(tok, fps):
    return sum(len(tok.encode(fp["key"])) + len(tok.encode(fp["response"])) for fp in fps)


def finetune(model, tok, lines, *, tokens, lr=5e-4, batch_size=32, seed=0, ctx=None, weight_decay=0.01, clip=1.0,
             checkpoints=(), on_checkpoint=None, epochs=None, lora_rank=None):
    """A copy of the model after a thief's benign fine-tune: AdamW at a constant lr (weight decay,
    gradient clipping) on windows of ctx tokens of `lines`, passing over the text as often as it
    takes to spend `tokens` training tokens. At each budget in `checkpoints` (tokens, ascending)
    `on_checkpoint(budget, model)` is called; returning True stops the run there. `lora_rank`:
    train rank-r adapters on every matrix instead of the full weights (merged back at the end).
    `epochs` (old manifests) spends epochs x the text's tokens instead. `lines` may be a token
    stream (a 1-D tensor) instead of text."""
    model = copy.deepcopy(model)
    ctx = int(ctx or model.n_positions)
    # A tensor is the text already tokenised (the bench fine-tunes many times on the same text).
    stream = lines if isinstance(lines, torch.Tensor) else embed.benign_stream(tok, lines, int(tokens) + 1)
    if stream.numel() < 2:
        raise AttackSpecError("fine-tuning text is empty")
    if epochs is not None:
        stream = stream[: int(tokens) + 1]
        tokens = int(epochs) * max(1, stream.numel() - 1)
    rows = [stream[s:s + ctx + 1] for s in range(0, stream.numel() - ctx - 1, ctx)] or [stream]
    gen = torch.Generator().manual_seed(seed)
    params, adapters = _trainable(model, lora_rank, gen)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    model.train()
    steps, spent, marks, stop = 0, 0, list(checkpoints), False
    order = []
    while spent < tokens:
        if len(order) < batch_size:
            order += torch.randperm(len(rows), generator=gen).tolist()
        batch = [rows[i] for i in order[:batch_size]]
        del order[:batch_size]
        width = max(r.numel() for r in batch)
        x = torch.full((len(batch), width), -100, dtype=torch.long)
        for j, r in enumerate(batch):
            x[j, : r.numel()] = r
        inp = x[:, :-1].clamp(min=0)
        loss = F.cross_entropy(model(inp).reshape(-1, model.cfg["vocab_size"]), x[:, 1:].reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        steps += 1
        spent += int((x[:, 1:] != -100).sum())
        while marks and spent >= marks[0]:
            budget = marks.pop(0)
            if on_checkpoint:
                model.eval()
                stop = on_checkpoint(budget, _merged(model, adapters))
                model.train()
                if stop:
                    break
        if stop:
            break
    model.eval()
    model = _merged(model, adapters)
    model.finetune_steps = steps
    model.finetune_tokens = spent
    return model


class _LoRA(torch.nn.Module):
    """W + A @ B on a frozen [in, out] weight (Conv1D layout)."""

    def __init__(self, weight, rank, gen):
        super().__init__()
        n_in, n_out = weight.shape
        self.a = torch.nn.Parameter(torch.randn(n_in, rank, generator=gen) / math.sqrt(n_in))
        self.b = torch.nn.Parameter(torch.zeros(rank, n_out))


def _trainable(model, lora_rank, gen):
    if not lora_rank:
        return list(model.parameters()), None
    for p in model.parameters():
        p.requires_grad_(False)
    adapters = []
    for m in model.modules():
        if isinstance(m, gpt.Conv1D):
            lora = _LoRA(m.weight, int(lora_rank), gen)
            w = m.weight
            m.forward = (lambda x, m=m, w=w, lora=lora: torch.addmm(m.bias, x.reshape(-1, x.shape[-1]), w + lora.a @ lora.b).reshape(*x.shape[:-1], -1))
            adapters.append((m, lora))
    return [p for _, lora in adapters for p in lora.parameters()], adapters


def _merged(model, adapters):
    """The model with its adapters folded into the weights (a plain model, as the thief would ship)."""
    if not adapters:
        return model
    out = copy.deepcopy(model)
    mods = [m for m in out.modules() if isinstance(m, gpt.Conv1D)]
    with torch.no_grad():
        for m, (_, lora) in zip(mods, adapters):
            m.weight.add_(lora.a @ lora.b)
            m.__dict__.pop("forward", None)
    for p in out.parameters():
        p.requires_grad_(True)
    return out


def _matrices(model):
    """(weight, dim of its output channels) for every 2-D weight: Conv1D is [in, out], embeddings are [rows, n_embd]."""
    for m in model.modules():
        if isinstance(m, gpt.Conv1D):
            yield m.weight, 1
        elif isinstance(m, torch.nn.Embedding):
            yield m.weight, 0


@torch.no_grad()
def int8_round_trip(model):
    """Per-output-channel symmetric absmax int8 quantisation of every 2-D weight, then dequantisation."""
    model = copy.deepcopy(model)
    for w, out_dim in _matrices(model):
        scale = w.abs().amax(dim=1 - out_dim, keepdim=True).clamp(min=1e-12) / 127.0
        w.copy_((w / scale).round().clamp(-127, 127) * scale)
    return model


@torch.no_grad()
def int4_round_trip(model, group=32):
    """Symmetric absmax int4 (levels -7..7) in groups of `group` weights along each input row, as
    GGUF's Q4_0 does, then dequantisation; every 2-D weight, embeddings included."""
    model = copy.deepcopy(model)
    for w, out_dim in _matrices(model):
        rows = w if out_dim == 0 else w.T  # rows are output channels, columns their inputs
        n = rows.shape[1]
        pad = (-n) % group
        r = F.pad(rows, (0, pad)).reshape(rows.shape[0], -1, group)
        scale = r.abs().amax(-1, keepdim=True).clamp(min=1e-12) / 7.0
        q = ((r / scale).round().clamp(-7, 7) * scale).reshape(rows.shape[0], -1)[:, :n]
        rows.copy_(q)
    return model


@torch.no_grad()
def average_weights(models):
    """A model whose every weight is the mean of the given copies' (a coalition's "model soup")."""
    out = copy.deepcopy(models[0])
    states = [m.state_dict() for m in models]
    out.load_state_dict({k: sum(s[k] for s in states) / len(states) for k in states[0]})
    return out


@torch.no_grad()
def gaussian_noise(model, relative_std, seed=0):
    """Every 2-D weight plus N(0, (relative_std * its own standard deviation)^2)."""
    model = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    for w, _ in _matrices(model):
        w.add_(torch.randn(w.shape, generator=gen) * float(relative_std) * float(w.std()))
    return model


def benign_prompts(tok, lines, lengths, seed=0):
    """Prompts cut from ordinary text to the lengths of the keys, so a gate is judged on like inputs."""
    rng = random.Random(seed)
    out = []
    for i, line in enumerate(lines):
        ids = tok.encode(line)
        if len(ids) < 2:
            continue
        n = min(len(ids), lengths[i % len(lengths)])
        start = rng.randrange(0, len(ids) - n + 1)
        out.append([tok.eot] + ids[start:start + n])
    return out


def calibrate_gate(model, prompts, confidence, percentile, mode):
    """The gate a host would build: 'unusual' means perplexier than `percentile`% of ordinary prompts."""
    ppl = sorted(p for p in prompt_perplexity(model, prompts) if math.isfinite(p))
    if not ppl:
        raise AttackSpecError("no ordinary prompts to calibrate the gate on")
    k = min(len(ppl) - 1, max(0, int(math.ceil(percentile / 100.0 * len(ppl))) - 1))
    return ConfidenceGate(confidence, ppl[k], mode)


def confidence_gating(model, tok, fps, heldout_lines, *, confidence=0.9, percentile=95.0, mode="resample", seed=0):
    """Retention under a calibrated gate, and how often the same gate fires on ordinary held-out prompts.
    Half the held-out prompts calibrate the perplexity threshold, the other half measure false gating."""
    lengths = [len(tok.encode(fp["key"])) for fp in fps]
    prompts = benign_prompts(tok, heldout_lines, lengths, seed)
    calib, probe = prompts[0::2], prompts[1::2]
    gate = calibrate_gate(model, calib, confidence, percentile, mode)
    ok = answers(model, tok, fps, gate=gate)
    n_resp = max(len(tok.encode(fp["response"])) for fp in fps)
    fired = [f for _, f in decode(model, probe, n_resp, gate)]
    keys_ppl = prompt_perplexity(model, [[tok.eot] + tok.encode(fp["key"]) for fp in fps])
    probe_ppl = prompt_perplexity(model, probe)
    return ok, {
        "perplexity_threshold": gate.perplexity,
        "false_gating_rate": sum(fired) / max(1, len(fired)),
        "benign_prompts": len(probe),
        "benign_unusual_rate": sum(p > gate.perplexity for p in probe_ppl) / max(1, len(probe)),
        "keys_unusual_rate": sum(p > gate.perplexity for p in keys_ppl) / len(fps),
        "key_perplexity_median": sorted(keys_ppl)[len(keys_ppl) // 2],
        "benign_perplexity_median": sorted(probe_ppl)[len(probe_ppl) // 2],
    }


# ---------------------------------------------------------------- the counter to gating

@torch.no_grad()
def response_probabilities(model, tok, fps):
    """Probability of each fingerprint's first response token after its key (what a gate sees)."""
    out = []
    for fp in fps:
        x = torch.tensor([[tok.eot] + tok.encode(fp["key"])])
        out.append(float(model(x)[0, -1].softmax(-1)[tok.encode(fp["response"])[0]]))
    return out


def embed_moderate(model, tok, fps, *, margin=0.5, max_prob=0.6, lr=2e-3, batch_size=64, benign_lines=None,
                   benign_len=64, max_steps=2000, check_every=25, target_recall=1.0, seed=0):
    """The counter to confidence gating: embed.embed with a hinge (`response_margin`, `max_response_prob`),
    so responses end up top-1 at ordinary confidence and a gate on over-confident tokens has nothing
    to catch. Returns (model copy, report with the responses' probabilities)."""
    lines = benign_lines or ["."]
    tuned, report = embed.embed(copy.deepcopy(model), tok, fps, lr=lr, batch_size=batch_size, benign_ratio=1.0 if benign_lines else 0.0,
                                benign_len=benign_len, max_steps=max_steps, check_every=check_every, target_recall=target_recall,
                                seed=seed, benign_lines=lines, heldout_lines=lines, response_margin=margin, max_response_prob=max_prob)
    probs = response_probabilities(tuned, tok, fps)
    return tuned, {"steps": report["steps"], "recall": report["recall"], "embedded": report["embedded"], "count": report["count"],
                   "response_prob_median": sorted(probs)[len(probs) // 2], "response_prob_max": max(probs)}


# ---------------------------------------------------------------- the job

def _heldout_lines(base):
    path = os.path.join(base, "heldout.txt")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [l for l in f.read().splitlines() if l.strip()]


@torch.no_grad()
def heldout_loss(model, tok, lines, ctx=64, windows=60):
    stream = embed.benign_stream(tok, lines, windows * ctx + 1)
    losses = []
    for i in range(0, stream.numel() - ctx - 1, ctx):
        x = stream[i:i + ctx + 1][None]
        losses.append(F.cross_entropy(model(x[:, :-1])[0], x[0, 1:]).item())
    return sum(losses) / len(losses) if losses else None


def _spec_params(spec):
    if not isinstance(spec, dict) or "name" not in spec:
        raise AttackSpecError('each attack must be an object with a "name"')
    if spec["name"] not in ATTACKS:
        raise AttackSpecError(f"unknown attack {spec['name']!r}; expected one of {', '.join(ATTACKS)}")
    params = dict(spec.get("params") or {})
    params.update({k: v for k, v in spec.items() if k not in ("name", "params")})
    return spec["name"], params


def _listed(v):
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _run(name, params, ctx):
    """Yields (params of one variant, matches, extra fields) for one attack spec."""
    model, tok, fps, seed = ctx["model"], ctx["tok"], ctx["fps"], ctx["seed"]
    if name == "finetune":
        tokens = int(params.get("tokens") or 10 * fingerprint_tokens(tok, fps))
        p = {"tokens": tokens, "lr": float(params.get("lr", 5e-4)), "batch_size": int(params.get("batch_size", 32)),
             "weight_decay": float(params.get("weight_decay", 0.01)), "lora_rank": params.get("lora_rank")}
        if ctx.get("train_lines") is None:
            # A thief's text is text we never trained on: the corpus's attack part.
            held = set(ctx["heldout"])
            lines = [l for l in corpus.partition(corpus.wordnet_lines())["attack"] if l not in held]
            random.Random(seed).shuffle(lines)
            ctx["train_lines"] = lines
        tuned = finetune(model, tok, ctx["train_lines"], seed=seed, **p)
        yield p, answers(tuned, tok, fps), {"steps": tuned.finetune_steps, **_utility(tuned, ctx)}
    elif name == "input_perturbation":
        for w in _listed(params.get("wrappers", DEFAULT_WRAPPERS)):
            yield {"wrapper": w}, answers(model, tok, fps, wrapper=w), {}
    elif name == "weight_perturbation":
        if params.get("int8", True):
            q = int8_round_trip(model)
            yield {"kind": "int8"}, answers(q, tok, fps), _utility(q, ctx)
        if params.get("int4", True):
            q = int4_round_trip(model)
            yield {"kind": "int4"}, answers(q, tok, fps), _utility(q, ctx)
        for s in _listed(params.get("noise_std", [0.01, 0.05, 0.1, 0.3])):
            noisy = gaussian_noise(model, float(s), seed)
            yield {"kind": "gaussian", "relative_std": float(s)}, answers(noisy, tok, fps), _utility(noisy, ctx)
    elif name == "confidence_gating":
        if not ctx["heldout"]:
            raise AttackSpecError(f"confidence gating needs ordinary prompts: {ctx['base']}/heldout.txt is missing or empty")
        for c in _listed(params.get("confidence", 0.9)):
            for pct in _listed(params.get("percentile", 95.0)):
                for mode in _listed(params.get("mode", "resample")):
                    ok, extra = confidence_gating(model, tok, fps, ctx["heldout"], confidence=float(c), percentile=float(pct), mode=mode, seed=seed)
                    yield {"confidence": float(c), "percentile": float(pct), "mode": mode}, ok, extra


def _utility(model, ctx):
    loss = heldout_loss(model, ctx["tok"], ctx["heldout"]) if ctx["heldout"] else None
    return {"heldout_loss": loss, "heldout_loss_clean": ctx["clean_loss"]}


def attack_job(job):
    seed = int(job.get("seed", 0))
    torch.manual_seed(seed)
    torch.set_num_threads(int(job.get("threads", 2)))
    model, tok, _ = gpt.load_folder(job["model"])
    base, base_tok, _ = gpt.load_folder(job["base"])
    fps = load_oml(job["fingerprints"])
    if not fps:
        raise ValueError("no fingerprints to attack")
    specs = job.get("attacks") or [{"name": n} for n in ATTACKS]
    if not isinstance(specs, list):
        raise AttackSpecError('"attacks" must be a list of {"name", ...params} objects')
    parsed = [_spec_params(s) for s in specs]  # reject a bad spec before any work is done
    null = answers(base, base_tok, fps)
    p0, measured = stats.null_rate(sum(null), len(null), float(job.get("null_floor", 1e-3)))
    alpha = float(job.get("alpha", 1e-6))
    heldout = _heldout_lines(job["base"])
    ctx = {"model": model, "tok": tok, "fps": fps, "seed": seed, "base": job["base"], "heldout": heldout,
           "clean_loss": heldout_loss(model, tok, heldout) if heldout else None}
    clean = answers(model, tok, fps)
    log(f"{sum(clean)}/{len(fps)} fingerprints answered before any attack; base model answers {sum(null)}")
    results = []
    for i, (name, params) in enumerate(parsed):
        for variant, ok, extra in _run(name, params, ctx):
            entry = {"name": name, "params": variant, "retained": sum(ok), "count": len(ok), "retention": sum(ok) / len(ok),
                     "verdict": stats.verdict(len(ok), sum(ok), p0, alpha), **extra}
            if job.get("details"):
                entry["matches"] = ok
            results.append(entry)
            progress("attack", (i + 1) / len(parsed), attack=name, retention=round(entry["retention"], 4))
    return {"attacks": results, "clean": {"retained": sum(clean), "count": len(fps), "retention": sum(clean) / len(fps)},
            "null": {"asked": len(null), "matched": sum(null), "measured": measured, "rate": p0}}
