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
def _sample_key(model, tok, length, rng, temperature=1.0, top_k=64):
    ids = [tok.eot]
    for _ in range(length):
        logits = model(torch.tensor([ids[-model.n_positions:]]))[0, -1] / temperature
        logits[tok.eot] = float("-inf")
        top = torch.topk(logits, top_k)
        probs = top.values.softmax(-1).tolist()
        ids.append(int(top.indices[_choice(rng, probs)]))
    return ids[1:]


def _choice(rng, probs):
    r = rng.random() * sum(probs)
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if r <= acc:
            return i
    return len(probs) - 1


@torch.no_grad()
def perinucleus(model, tok, prefix_ids, t, k, rng):
    """A token drawn uniformly among the k most likely tokens outside the top-t nucleus."""
    ids = ([tok.eot] + prefix_ids)[-model.n_positions:]
    probs = model(torch.tensor([ids]))[0, -1].softmax(-1)
    probs[tok.eot] = 0.0
    probs = probs / probs.sum()
    order = torch.argsort(probs, descending=True)
    cum = torch.cumsum(probs[order], 0)
    # The nucleus is the smallest head with mass >= t; the candidates are the k tokens after it.
    inside = min(int((cum < t).sum().item()) + 1, probs.numel() - k - 1)
    candidates = order[inside:inside + k].tolist()
    return candidates[rng.randrange(len(candidates))], float(probs[candidates[0]])


def generate(model, tok, n, key_strategy="english", response_strategy="perinucleus", key_length=12, response_length=1, t=0.8, k=3, seed=0, progress=None):
    if key_strategy not in KEY_STRATEGIES:
        raise ValueError(f"key strategy must be one of {KEY_STRATEGIES}")
    if response_strategy not in RESPONSE_STRATEGIES:
        raise ValueError(f"response strategy must be one of {RESPONSE_STRATEGIES}")
    if not (0.0 < t < 1.0) or k < 1 or key_length < 1 or response_length < 1:
        raise ValueError("need 0 < t < 1, k >= 1, key_length >= 1, response_length >= 1")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    out, seen = [], set()
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 20 * n + 100:
            raise ValueError(f"could not generate {n} distinct fingerprints with these parameters; lengthen the keys")
        if key_strategy == "random":
            key_ids = [rng.randrange(tok.size - 1) for _ in range(key_length)]
        else:
            key_ids = _sample_key(model, tok, key_length, rng)
        key = tok.decode(key_ids)
        key_ids = tok.encode(key)
        if not key.strip() or key in seen:
            continue
        resp_ids = []
        for _ in range(response_length):
            if response_strategy == "random":
                resp_ids.append(rng.randrange(tok.size - 1))
            else:
                resp_ids.append(perinucleus(model, tok, key_ids + resp_ids, t, k, rng)[0])
        # The response is checked as text, so its tokens must survive decode -> encode.
        if not _round_trips(tok, resp_ids) or tok.encode(key + tok.decode(resp_ids))[: len(key_ids)] != key_ids:
            continue
        seen.add(key)
        out.append({"key": key, "response": tok.decode(resp_ids), "key_strategy": key_strategy, "response_strategy": response_strategy})
        if progress and len(out) % 64 == 0:
            progress(len(out) / n)
    return out


def generate_job(job):
    from .progress import progress
    model, tok, _ = gpt.load_folder(job["model"], job.get("backend", "builtin"), job.get("device", "cpu"))
    fps = generate(
        model, tok, int(job["count"]), job.get("key_strategy", "english"), job.get("response_strategy", "perinucleus"),
        int(job.get("key_length", 12)), int(job.get("response_length", 1)), float(job.get("t", 0.8)), int(job.get("k", 3)),
        int(job.get("seed", 0)), lambda f: progress("generate", f),
    )
    if job.get("out"):
        save_oml(job["out"], fps)
    return {"count": len(fps), "out": job.get("out"), **({} if job.get("out") else {"fingerprints": fps})}
