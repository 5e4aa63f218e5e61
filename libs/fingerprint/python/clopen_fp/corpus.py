"""The offline English corpus: WordNet 3.0 glosses (Debian package wordnet-base, WordNet 3.0
licence: free use, copy, modification and distribution with the copyright notice kept).

Each synset gives one line: its words and its gloss (definition and example sentences)."""
import hashlib
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


PARTITION_SEED = 20261203
PARTS = {"heldout": 0.03, "attack": 0.15}


def partition(lines, seed=PARTITION_SEED):
    """The corpus in three disjoint parts, the same for every base model whatever its own seed:
    - "train": what a base model pretrains on and what embedding mixes in as benign text;
    - "attack": fresh text nothing of ours ever trains on, kept for a thief's fine-tune (and for
      checking that the base is converged: more training on fresh text must not buy utility);
    - "heldout": the text every utility figure is measured on.
    Each line goes by a keyed hash of its text, so a sample of the corpus keeps the split and a
    line that occurs twice never sits on both sides."""
    marks = [int.from_bytes(hashlib.sha256(f"{seed}:{line}".encode()).digest()[:8], "big") / 2**64 for line in lines]
    h, a = PARTS["heldout"], PARTS["heldout"] + PARTS["attack"]
    out = {"train": [], "attack": [], "heldout": []}
    for line, u in zip(lines, marks):
        out["heldout" if u < h else "attack" if u < a else "train"].append(line)
    return out
