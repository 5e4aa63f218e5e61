"""A GPT-2 architecture whose parameters carry GPT-2's tensor names and layouts (Conv1D weights
are [in, out]), so a folder written here loads as GPT2LMHeadModel and a GPT-2 folder loads here."""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import st
from .tokenizer import Tokenizer


class Conv1D(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], -1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head = cfg["n_head"]
        self.c_attn = Conv1D(cfg["n_embd"], 3 * cfg["n_embd"])
        self.c_proj = Conv1D(cfg["n_embd"], cfg["n_embd"])

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        h = self.n_head
        q, k, v = (z.view(b, t, h, c // h).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // h)
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        return self.c_proj((att @ v).transpose(1, 2).reshape(b, t, c))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.c_fc = Conv1D(cfg["n_embd"], 4 * cfg["n_embd"])
        self.c_proj = Conv1D(4 * cfg["n_embd"], cfg["n_embd"])

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        eps = cfg.get("layer_norm_epsilon", 1e-5)
        self.ln_1 = nn.LayerNorm(cfg["n_embd"], eps=eps)
        self.attn = Attention(cfg)
        self.ln_2 = nn.LayerNorm(cfg["n_embd"], eps=eps)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg["vocab_size"], cfg["n_embd"])
        self.wpe = nn.Embedding(cfg["n_positions"], cfg["n_embd"])
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg["n_layer"]))
        self.ln_f = nn.LayerNorm(cfg["n_embd"], eps=cfg.get("layer_norm_epsilon", 1e-5))
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.01)

    @property
    def n_positions(self):
        return self.cfg["n_positions"]

    def forward(self, idx):
        t = idx.shape[1]
        if t > self.n_positions:
            idx = idx[:, -self.n_positions:]
            t = self.n_positions
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # lm_head tied to wte, as in GPT-2

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())


def default_config(vocab_size, n_embd=192, n_layer=4, n_head=4, n_positions=128):
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": vocab_size,
        "n_embd": n_embd, "n_layer": n_layer, "n_head": n_head, "n_positions": n_positions, "n_ctx": n_positions,
        "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
        "bos_token_id": vocab_size - 1, "eos_token_id": vocab_size - 1, "tie_word_embeddings": True,
    }


class ModelFolderError(ValueError):
    pass


def load_folder(path, backend="builtin", device="cpu"):
    """(model, tokenizer, config) from a folder: config.json, model.safetensors, tokenizer.json.
    backend "transformers" loads any causal LM with Hugging Face transformers (GPU runs; see hf.py)."""
    if backend == "transformers":
        from . import hf
        return hf.load_folder(path, device)
    if backend != "builtin":
        raise ValueError(f'backend must be "builtin" or "transformers", not {backend!r}')
    for f in ("config.json", "model.safetensors", "tokenizer.json"):
        if not os.path.exists(os.path.join(path, f)):
            raise ModelFolderError(f"{path} has no {f}: a model folder needs config.json, model.safetensors and tokenizer.json")
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    missing = [k for k in ("vocab_size", "n_embd", "n_layer", "n_head", "n_positions") if k not in cfg]
    if missing:
        raise ModelFolderError(f"{path}/config.json lacks GPT-2 keys {missing}")
    tensors, _ = st.load(os.path.join(path, "model.safetensors"))
    tensors = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in tensors.items()}
    tensors.pop("lm_head.weight", None)
    model = GPT(cfg)
    own = model.state_dict()
    unknown = sorted(set(tensors) - set(own))
    absent = sorted(set(own) - set(tensors))
    if unknown or absent:
        raise ModelFolderError(f"{path}/model.safetensors does not match config.json: missing {absent[:5]}, unexpected {unknown[:5]}")
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    model.eval()
    return model, Tokenizer.load(os.path.join(path, "tokenizer.json")), cfg


def save_folder(path, model, tokenizer, metadata=None, dtype=None):
    os.makedirs(path, exist_ok=True)
    if not isinstance(model, GPT):
        from . import hf
        return hf.save_folder(path, model, tokenizer, metadata)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(model.cfg, f, indent=2)
    st.save(os.path.join(path, "model.safetensors"), {k: v if dtype is None else v.to(dtype) for k, v in model.state_dict().items()}, {"format": "pt", **(metadata or {})})
    tokenizer.save(os.path.join(path, "tokenizer.json"))


@torch.no_grad()
def greedy(model, ids, n):
    """n tokens of greedy continuation of each prompt (a list of token-id lists, any lengths)."""
    out = []
    for prompt in ids:
        x = torch.tensor([prompt])
        gen = []
        for _ in range(n):
            nxt = int(model(x)[0, -1].argmax())
            gen.append(nxt)
            x = torch.cat([x, torch.tensor([[nxt]])], dim=1)
        out.append(gen)
    return out


@torch.no_grad()
def greedy_batch(model, prompts, n):
    """Greedy decoding of many prompts at once: prompts are batched by length, so no padding is needed."""
    groups = {}
    for i, p in enumerate(prompts):
        groups.setdefault(len(p), []).append(i)
    out = [None] * len(prompts)
    for _, idxs in groups.items():
        for start in range(0, len(idxs), 256):
            chunk = idxs[start:start + 256]
            x = torch.tensor([prompts[i] for i in chunk])
            gen = []
            for _ in range(n):
                nxt = model(x)[:, -1].argmax(-1)
                gen.append(nxt)
                x = torch.cat([x, nxt[:, None]], dim=1)
            g = torch.stack(gen, 1).tolist()
            for j, i in enumerate(chunk):
                out[i] = g[j]
    return out
