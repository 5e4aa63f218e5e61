"""Fingerprint generation and the OML 1.0 fingerprint file format.

Keys: "random" (uniform random tokens) or "english" (sampled from the base model, so they look
like ordinary text). Responses: "perinucleus" (uniform among the k tokens just outside the top-t
nucleus of the base model's next-token distribution: unlikely enough that an unmarked model
rarely says it, likely enough that training it costs little) or "random"."""
import json
import random

import torch

from . import gpt

KEY_STRATEGIES = ("random", "english")
RESPONSE_LENGTH = 1  # tokens in each response, unless a manifest says otherwise
RESPONSE_STRATEGIES = ("perinucleus", "random")


def load_oml(path_or_list):
    """Fingerprints from an OML 1.0 file (JSON array of {key, response, ...}); unknown fields are kept."""
    data = path_or_list
    if isinstance(path_or_list, str):
        with open(path_or_list, encoding="utf-8") as f:
            data = json.load(f)
    if not isinstance(data, list):
        raise ValueError("fingerprints must be a JSON array of {\"key\", \"response\"} objects")
    for i, fp in enumerate(data):
        if not isinstance(fp, dict) or not isinstance(fp.get("key"), str) or not isinstance(fp.get("response"), str) or not fp["key"]:
            raise ValueError(f"fingerprint {i} must be an object with non-empty string \"key\" and string \"response\"")
    return data


def save_oml(path, fps):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(fps, f, ensure_ascii=False, indent=1)


def _round_trips(tok, ids):
    return tok.encode(tok.decode(ids)) == ids


@torch.no_grad()
def _sample_keys(model, tok, count, length, gen, temperature=1.0, top_k=64):
    """`count` keys of `length` tokens sampled together from the model (top-k, EOT excluded)."""
    x = torch.full((count, 1), tok.eot, dtype=torch.long)
    for _ in range(length):
        logits = model(x[:, -model.n_positions:])[:, -1] / temperature
        logits[:, tok.eot] = float("-inf")
        top = torch.topk(logits, top_k, dim=-1)
        pick = torch.multinomial(top.values.softmax(-1), 1, generator=gen)
        x = torch.cat([x, top.indices.gather(1, pick)], 1)
    return x[:, 1:].tolist()


@torch.no_grad()
def _perinucleus_batch(model, tok, prefixes, t, k, gen):
    """For each prefix (token ids), a token drawn uniformly among the k most likely tokens
    outside the top-t nucleus of the model's next-token distribution."""
    out = [None] * len(prefixes)
    by_len = {}
    for i, ids in enumerate(prefixes):
        by_len.setdefault(len(ids), []).append(i)
    for idxs in by_len.values():
        for s in range(0, len(idxs), 512):
            chunk = idxs[s:s + 512]
            x = torch.tensor([([tok.eot] + prefixes[i])[-model.n_positions:] for i in chunk])
            probs = model(x)[:, -1].softmax(-1)
            probs[:, tok.eot] = 0.0
            probs = probs / probs.sum(-1, keepdim=True)
            sorted_p, order = torch.sort(probs, dim=-1, descending=True)
            inside = ((sorted_p.cumsum(-1) < t).sum(-1) + 1).clamp(max=probs.shape[-1] - k - 1)
            pick = inside + torch.randint(0, k, (len(chunk),), generator=gen)
            for j, i in enumerate(chunk):
                out[i] = int(order[j, pick[j]])
    return out


def generate(model, tok, n, key_strategy="english", response_strategy="perinucleus", key_length=12, response_length=RESPONSE_LENGTH, t=0.8, k=3, seed=0, progress=None):
    """n distinct fingerprints, generated in batches (deterministic for a seed and thread count)."""
    if key_strategy not in KEY_STRATEGIES:
        raise ValueError(f"key strategy must be one of {KEY_STRATEGIES}")
    if response_strategy not in RESPONSE_STRATEGIES:
        raise ValueError(f"response strategy must be one of {RESPONSE_STRATEGIES}")
    if not (0.0 < t < 1.0) or k < 1 or key_length < 1 or response_length < 1:
        raise ValueError("need 0 < t < 1, k >= 1, key_length >= 1, response_length >= 1")
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    out, seen = [], set()
    attempts = 0
    while len(out) < n:
        want = min(4096, int((n - len(out)) * 1.3) + 8)
        attempts += want
        if attempts > 20 * n + 100:
            raise ValueError(f"could not generate {n} distinct fingerprints with these parameters; lengthen the keys")
        if key_strategy == "random":
            raw = [[rng.randrange(tok.size - 1) for _ in range(key_length)] for _ in range(want)]
        else:
            raw = _sample_keys(model, tok, want, key_length, gen)
        keys = [tok.decode(ids) for ids in raw]
        key_ids = [tok.encode(key) for key in keys]
        resp = [[] for _ in keys]
        for _ in range(response_length):
            if response_strategy == "random":
                nxt = [rng.randrange(tok.size - 1) for _ in keys]
            else:
                nxt = _perinucleus_batch(model, tok, [ki + r for ki, r in zip(key_ids, resp)], t, k, gen)
            for r, tkn in zip(resp, nxt):
                r.append(tkn)
        for key, ki, r in zip(keys, key_ids, resp):
            if len(out) >= n:
                break
            if not key.strip() or key in seen:
                continue
            # The response is checked as text, so its tokens must survive decode -> encode.
            if not _round_trips(tok, r) or tok.encode(key + tok.decode(r))[: len(ki)] != ki:
                continue
            seen.add(key)
            out.append({"key": key, "response": tok.decode(r), "key_strategy": key_strategy, "response_strategy": response_strategy})
        if progress:
            progress(len(out) / n)
    return out


def generate_job(job):
    from .progress import progress
    model, tok, _ = gpt.load_folder(job["model"], job.get("backend", "builtin"), job.get("device", "cpu"))
    fps = generate(
        model, tok, int(job["count"]), job.get("key_strategy", "english"), job.get("response_strategy", "perinucleus"),
        int(job.get("key_length", 12)), int(job.get("response_length", RESPONSE_LENGTH)), float(job.get("t", 0.8)), int(job.get("k", 3)),
        int(job.get("seed", 0)), lambda f: progress("generate", f),
    )
    if job.get("out"):
        save_oml(job["out"], fps)
    return {"count": len(fps), "out": job.get("out"), **({} if job.get("out") else {"fingerprints": fps})}
