"""ONNX export of a model folder, for hosts that serve it without PyTorch (libs/inference runs it
with onnxruntime-node and decodes greedily like gpt.greedy).

The graph: input `input_ids` int64 [batch, seq] (both dynamic), output `logits` float32
[batch, vocab]: the next-token logits at the last position only. Greedy decoding reads nothing
else, and skipping the LM head on the other positions makes a step about a quarter faster.
seq must be at most n_positions: the caller keeps the last n_positions tokens, as GPT.forward does
(a traced graph cannot hold that branch). torch 1.13's exporter needs no `onnx` Python package."""
import hashlib
import os
import warnings

import torch
import torch.nn as nn

from . import gpt
from .progress import log

DEFAULT_OPSET = 17
# The causal mask is a tril, exported as Trilu (opset 14); torch 1.13 exports up to opset 17.
MIN_OPSET, MAX_OPSET = 14, 17


class LastLogits(nn.Module):
    """GPT.forward without the truncation, with ln_f and the tied LM head on the last position only."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, idx):
        m = self.model
        x = m.wte(idx) + m.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in m.h:
            x = block(x)
        return m.ln_f(x[:, -1]) @ m.wte.weight.T


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@torch.no_grad()
def export(model, path, opset=DEFAULT_OPSET):
    """Writes model.onnx (via a temporary file, so a reader never sees half of it); returns the result fields."""
    if not isinstance(model, gpt.GPT):
        raise ValueError("ONNX export supports the built-in GPT-2 architecture only (backend \"builtin\")")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset must be between {MIN_OPSET} and {MAX_OPSET} (the causal mask needs Trilu, opset 14), not {opset}")
    model.eval()
    example = torch.zeros((1, min(8, model.n_positions)), dtype=torch.long)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with warnings.catch_warnings():
            # Shape arithmetic traced to constants (head size, the truncation test) is intended here.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                LastLogits(model), (example,), tmp, input_names=["input_ids"], output_names=["logits"],
                dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}},
                opset_version=opset, do_constant_folding=True,
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return {"out": path, "bytes": os.path.getsize(path), "sha256": _sha256(path), "opset": opset, "logits": "last"}


def export_job(job):
    model, _, _ = gpt.load_folder(job["model"])
    out = job.get("out") or os.path.join(job["model"], "model.onnx")
    result = export(model, out, int(job.get("opset", DEFAULT_OPSET)))
    log(f"exported {job['model']} to {out} ({result['bytes']} bytes, opset {result['opset']})")
    return result
