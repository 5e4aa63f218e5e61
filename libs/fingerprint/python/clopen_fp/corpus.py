"""The offline English corpus: WordNet 3.0 glosses (Debian package wordnet-base, WordNet 3.0
licence: free use, copy, modification and distribution with the copyright notice kept).

Each synset gives one line: its words and its gloss (definition and example sentences)."""
import os
import random

WORDNET = os.environ.get("CLOPEN_WORDNET_DIR", "/usr/share/wordnet")
POS = ("noun", "verb", "adj", "adv")


class CorpusUnavailable(ValueError):
    pass


def wordnet_lines():
    lines = []
    for pos in POS:
        path = os.path.join(WORDNET, f"data.{pos}")
        if not os.path.exists(path):
            raise CorpusUnavailable(f"{path} not found: install the Debian package wordnet-base")
        with open(path, encoding="latin-1") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue
                fields, gloss = line.split("|", 1)
                parts = fields.split()
                n_words = int(parts[3], 16)
                words = [parts[4 + 2 * i].replace("_", " ") for i in range(n_words)]
                words = [w.split("(")[0] for w in words]
                lines.append(f"{', '.join(words)}: {gloss.strip()}")
    return lines


def split(lines, heldout_fraction=0.02, seed=1234):
    """Deterministic train/held-out split by line."""
    rng = random.Random(seed)
    idx = list(range(len(lines)))
    rng.shuffle(idx)
    k = max(1, int(len(lines) * heldout_fraction))
    held = set(idx[:k])
    train = [l for i, l in enumerate(lines) if i not in held]
    heldout = [lines[i] for i in sorted(held)]
    return train, heldout
