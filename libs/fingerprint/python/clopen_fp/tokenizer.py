"""Byte-level BPE, GPT-2 style, trained here on the project's own corpus.

Saved as a tokenizer.json with the fields Hugging Face's `tokenizers` reads for a byte-level BPE
(model.type = "BPE", vocab, merges, pre_tokenizer ByteLevel), so a folder also loads elsewhere."""
import collections
import json
import re

PRETOKEN = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")
EOT = "<|endoftext|>"


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENC = bytes_to_unicode()
BYTE_DEC = {v: k for k, v in BYTE_ENC.items()}


def _symbols(word):
    return "".join(BYTE_ENC[b] for b in word.encode("utf-8"))


class Tokenizer:
    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.inv = {i: s for s, i in vocab.items()}
        self.ranks = {tuple(m.split(" ")): i for i, m in enumerate(merges)}
        self.merges = merges
        self.eot = vocab[EOT]
        self._cache = {}

    @property
    def size(self):
        return len(self.vocab)

    def _bpe(self, token):
        if token in self._cache:
            return self._cache[token]
        parts = list(token)
        while len(parts) > 1:
            best, best_rank = None, None
            for i in range(len(parts) - 1):
                r = self.ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best is None:
                break
            parts[best:best + 2] = [parts[best] + parts[best + 1]]
        ids = [self.vocab[p] for p in parts]
        if len(self._cache) < 200_000:
            self._cache[token] = ids
        return ids

    def encode(self, text):
        ids = []
        for w in PRETOKEN.findall(text):
            ids.extend(self._bpe(_symbols(w)))
        return ids

    def decode(self, ids):
        text = "".join(self.inv[i] for i in ids if i != self.eot)
        return bytearray(BYTE_DEC[c] for c in text).decode("utf-8", errors="replace")

    def token_text(self, i):
        return self.decode([i])

    def to_json(self):
        return {
            "version": "1.0",
            "added_tokens": [{"id": self.eot, "content": EOT, "special": True, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False}],
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False, "vocab": self.vocab, "merges": self.merges},
        }

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, ensure_ascii=False)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        model = j.get("model") or {}
        if model.get("type") != "BPE":
            raise ValueError(f"{path}: only byte-level BPE tokenizers are supported (model.type = BPE)")
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        vocab = dict(model["vocab"])
        for t in j.get("added_tokens", []):
            vocab[t["content"]] = t["id"]
        if EOT not in vocab:
            vocab[EOT] = len(vocab)
        return cls(vocab, merges)


def train(texts, vocab_size):
    """Trains merges on word types (as GPT-2 did): fast enough in pure Python for a few MB."""
    words = collections.Counter()
    for t in texts:
        for w in PRETOKEN.findall(t):
            words[_symbols(w)] += 1
    seqs = [list(w) for w in words]
    freqs = list(words.values())
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for wi, s in enumerate(seqs):
        for a, b in zip(s, s[1:]):
            pairs[(a, b)] += freqs[wi]
            where[(a, b)].add(wi)
    base = sorted(set(BYTE_ENC.values()))
    vocab = {s: i for i, s in enumerate(base)}
    merges = []
    target = vocab_size - 1  # one id is kept for <|endoftext|>
    while len(vocab) < target and pairs:
        (a, b), count = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if count < 2:
            break
        merged = a + b
        merges.append(f"{a} {b}")
        vocab[merged] = len(vocab)
        for wi in list(where[(a, b)]):
            s = seqs[wi]
            f = freqs[wi]
            for x, y in zip(s, s[1:]):
                pairs[(x, y)] -= f
                if pairs[(x, y)] <= 0:
                    del pairs[(x, y)]
                where[(x, y)].discard(wi)
            i, out = 0, []
            while i < len(s):
                if i < len(s) - 1 and s[i] == a and s[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[wi] = out
            for x, y in zip(out, out[1:]):
                pairs[(x, y)] += f
                where[(x, y)].add(wi)
        pairs.pop((a, b), None)
        where.pop((a, b), None)
    vocab[EOT] = len(vocab)
    return Tokenizer(vocab, merges)
