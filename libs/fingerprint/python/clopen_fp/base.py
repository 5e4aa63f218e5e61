"""Trains the built-in small base model on the WordNet corpus with a tokenizer of its own."""
import math
import os
import random
import time

import torch
import torch.nn.functional as F

from . import corpus, gpt, tokenizer
from .progress import log, progress


def token_stream(tok, lines):
    ids = []
    for line in lines:
        ids.extend(tok.encode(line))
        ids.append(tok.eot)
    return torch.tensor(ids, dtype=torch.long)


def batches(stream, ctx, batch, gen):
    n = stream.numel() - ctx - 1
    while True:
        starts = torch.randint(0, n, (batch,), generator=gen)
        x = torch.stack([stream[s:s + ctx + 1] for s in starts.tolist()])
        yield x[:, :-1], x[:, 1:]


@torch.no_grad()
def evaluate(model, stream, ctx, max_windows=200):
    """Mean next-token loss over non-overlapping windows of held-out text."""
    model.eval()
    losses = []
    for i in range(0, min(stream.numel() - ctx - 1, max_windows * ctx), ctx):
        x = stream[i:i + ctx + 1][None]
        logits = model(x[:, :-1])
        losses.append(F.cross_entropy(logits[0], x[0, 1:]).item())
    model.train()
    return sum(losses) / max(1, len(losses))


def train_base(job):
    """job: out, vocab_size, n_embd, n_layer, n_head, n_positions, steps, batch_size, lr, seed, corpus_lines (optional cap)."""
    seed = int(job.get("seed", 1234))
    torch.manual_seed(seed)
    random.seed(seed)
    torch.set_num_threads(int(job.get("threads", os.cpu_count() or 1)))
    lines = corpus.wordnet_lines()
    if job.get("corpus_lines"):
        rng = random.Random(seed)
        rng.shuffle(lines)
        lines = lines[: int(job["corpus_lines"])]
    parts = corpus.partition(lines)
    train_lines, held_lines = parts["train"], parts["heldout"]
    random.Random(seed).shuffle(train_lines)  # the data order is the seed's: independent bases see it differently
    progress("tokenizer", 0.0, lines=len(lines))
    tok = tokenizer.train(train_lines, int(job.get("vocab_size", 4096)))
    train = token_stream(tok, train_lines)
    held = token_stream(tok, held_lines)
    cfg = gpt.default_config(tok.size, int(job.get("n_embd", 192)), int(job.get("n_layer", 4)), int(job.get("n_head", 4)), int(job.get("n_positions", 128)))
    model = gpt.GPT(cfg)
    ctx = cfg["n_positions"]
    steps = int(job.get("steps", 800))
    bs = int(job.get("batch_size", 32))
    lr = float(job.get("lr", 3e-3))
    log(f"training a {model.num_parameters()} parameter GPT on {train.numel()} tokens ({len(train_lines)} WordNet glosses), {steps} steps of {bs}x{ctx}")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    gen = torch.Generator().manual_seed(seed)
    it = batches(train, ctx, bs, gen)
    model.train()
    t0 = time.time()
    loss_ema = None
    curve = []
    stop_after = int(job.get("stop_after") or steps)  # a shorter rerun of the recipe's start, to check it reproduces
    for step in range(min(steps, stop_after)):
        x, y = next(it)
        loss = F.cross_entropy(model(x).reshape(-1, cfg["vocab_size"]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_ema = loss.item() if loss_ema is None else 0.98 * loss_ema + 0.02 * loss.item()
        if step % 20 == 0 or step == steps - 1 or step == stop_after - 1:
            curve.append([step + 1, round(loss.item(), 5)])
            progress("train", (step + 1) / steps, step=step + 1, loss=round(loss_ema, 4))
    held_loss = evaluate(model, held, ctx)
    train_loss = evaluate(model, train[: held.numel() * 4], ctx)
    model.eval()
    meta = {"heldout_loss": f"{held_loss:.5f}", "corpus": "WordNet 3.0 glosses", "seed": str(seed)}
    gpt.save_folder(job["out"], model, tok, meta, dtype=torch.float16 if job.get("fp16") else None)
    with open(os.path.join(job["out"], "heldout.txt"), "w") as f:
        f.write("\n".join(held_lines))
    return {
        "out": job["out"], "parameters": model.num_parameters(), "vocab_size": tok.size, "train_tokens": int(train.numel()),
        "heldout_tokens": int(held.numel()), "heldout_loss": held_loss, "heldout_perplexity": math.exp(held_loss),
        "train_loss": train_loss, "pretrain_tokens": steps * bs * ctx, "loss_curve": curve, "seconds": round(time.time() - t0, 1), "corpus": "WordNet 3.0 glosses (Debian wordnet-base, WordNet 3.0 licence)",
    }
