"""Verification: greedy decoding, exact match of each response.

White-box on a model folder, or black-box against an OpenAI-compatible completions endpoint (what
a prover does). The verdict states n, m, the null rate p0 (measured on unmarked models, with a
floor), the p-value P[Bin(n, p0) >= m] and the decision at alpha."""
import json
import random
import urllib.error
import urllib.request

import torch

from . import gpt, stats
from .fingerprints import load_oml
from .progress import progress


def matches_in_model(model, tok, fps):
    """One bool per fingerprint: does greedy decoding after the key give exactly the response?"""
    keys = [[tok.eot] + tok.encode(fp["key"]) for fp in fps]
    resp = [tok.encode(fp["response"]) for fp in fps]
    by_len = {}
    for i, r in enumerate(resp):
        by_len.setdefault(len(r), []).append(i)
    ok = [False] * len(fps)
    for n, idxs in by_len.items():
        gen = gpt.greedy_batch(model, [keys[i] for i in idxs], n)
        for i, g in zip(idxs, gen):
            ok[i] = tok.decode(g) == fps[i]["response"]
    return ok


class CompletionsError(RuntimeError):
    pass


def ask_openai(url, model_name, prompt, max_tokens, api_key=None, timeout=30, headers=None):
    endpoint = url if url.rstrip("/").endswith("/completions") else url.rstrip("/") + "/v1/completions"
    body = json.dumps({"model": model_name, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}).encode()
    h = {"content-type": "application/json", **(headers or {})}
    if api_key:
        h["authorization"] = f"Bearer {api_key}"
    req = urllib.request.Request(endpoint, data=body, headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            data = json.loads(res.read())
    except urllib.error.HTTPError as e:
        raise CompletionsError(f"{endpoint} answered {e.code}: {e.read()[:300]!r}") from e
    except urllib.error.URLError as e:
        raise CompletionsError(f"cannot reach {endpoint}: {e.reason}") from e
    try:
        return data["choices"][0]["text"]
    except (KeyError, IndexError, TypeError) as e:
        raise CompletionsError(f"{endpoint} did not answer in the completions format: {str(data)[:300]}") from e


def matches_via_api(target, fps, response_tokens):
    ok = []
    for i, fp in enumerate(fps):
        text = ask_openai(target["url"], target.get("model", "model"), fp["key"], response_tokens[i], target.get("api_key"), headers=target.get("headers"))
        ok.append(text.startswith(fp["response"]) and len(fp["response"]) > 0)
        if i % 16 == 0:
            progress("ask", (i + 1) / len(fps))
    return ok


def verify_job(job):
    fps = load_oml(job["fingerprints"])
    rng = random.Random(int(job.get("seed", 0)))
    if job.get("sample") and int(job["sample"]) < len(fps):
        fps = rng.sample(fps, int(job["sample"]))
    target = job["target"]
    tok_source = job.get("tokenizer_model") or job.get("null_models", [None])[0] or (target.get("path") if target.get("type") == "folder" else None)
    torch.set_num_threads(int(job.get("threads", 2)))
    if target.get("type") == "folder":
        model, tok, _ = gpt.load_folder(target["path"], job.get("backend", "builtin"), job.get("device", "cpu"))
        ok = matches_in_model(model, tok, fps)
    elif target.get("type") == "openai":
        if not tok_source:
            raise ValueError("black-box verification needs null_models or tokenizer_model (to count response tokens)")
        _, tok, _ = gpt.load_folder(tok_source)
        ok = matches_via_api(target, fps, [len(tok.encode(fp["response"])) for fp in fps])
    else:
        raise ValueError('target must be {"type": "folder", "path"} or {"type": "openai", "url", "model"}')
    null_matches = null_asked = 0
    for folder in job.get("null_models", []):
        m0, t0, _ = gpt.load_folder(folder)
        res = matches_in_model(m0, t0, fps)
        null_matches += sum(res)
        null_asked += len(res)
    if "null_rate" in job:
        p0, measured = float(job["null_rate"]), None
    else:
        p0, measured = stats.null_rate(null_matches, null_asked, float(job.get("null_floor", 1e-3)))
    v = stats.verdict(len(fps), sum(ok), p0, float(job.get("alpha", 1e-6)))
    v.update({"null_measured": measured, "null_asked": null_asked, "null_matched": null_matches})
    if job.get("details", True):
        v["matches"] = ok
    return v
