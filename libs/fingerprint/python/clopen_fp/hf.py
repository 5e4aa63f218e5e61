"""Hugging Face backend for GPU runs: `"backend": "transformers"` in a manifest loads the folder with
transformers' AutoModelForCausalLM and AutoTokenizer and wraps them in the interface the engine
uses (model(idx) -> logits, n_positions, cfg["vocab_size"]; tok.encode/decode/eot/size).
With `"device": "cuda"` new tensors are created on the GPU (torch >= 2.0's default device).

Not testable on the project's CPU machines (transformers is not packaged for Debian there)."""
import torch


class HFModel(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        c = inner.config
        self.cfg = {"vocab_size": c.vocab_size, **c.to_dict()}

    @property
    def n_positions(self):
        c = self.inner.config
        return getattr(c, "n_positions", None) or getattr(c, "max_position_embeddings", 2048)

    def forward(self, idx):
        return self.inner(input_ids=idx).logits


class HFTokenizer:
    def __init__(self, inner):
        self.inner = inner
        self.eot = inner.eos_token_id if inner.eos_token_id is not None else 0

    @property
    def size(self):
        return len(self.inner)

    def encode(self, text):
        return self.inner(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids):
        return self.inner.decode([i for i in ids if i != self.eot], skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def save(self, path):
        self.inner.save_pretrained(path)


def load_folder(path, device="cuda", dtype="bfloat16"):
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415 - optional dependency

    if device != "cpu" and hasattr(torch, "set_default_device"):
        torch.set_default_device(device)
    inner = AutoModelForCausalLM.from_pretrained(path, torch_dtype=getattr(torch, dtype)).to(device)
    inner.eval()
    return HFModel(inner), HFTokenizer(AutoTokenizer.from_pretrained(path)), inner.config.to_dict()


def save_folder(path, model, tokenizer, metadata=None):
    model.inner.save_pretrained(path, safe_serialization=True, metadata=metadata)
    tokenizer.save(path)
