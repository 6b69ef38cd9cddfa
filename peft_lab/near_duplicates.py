"""Near-duplicate texts: equal, or one contained in the other, once whitespace and punctuation are
removed. ``data`` uses it to keep copies of training texts out of validation and test."""
from __future__ import annotations

import unicodedata

from .checks import check_positive_int
from .vocab import normalize_char

# A held-out text counts as contained in (or containing) a training text only if the contained
# one has at least this many letters/digits after normalisation; `python -m peft_lab.experiments.leaks`
# prints how many held-out texts each threshold removes. At 10 the reviews' truncated copies are caught,
# the shortest of them 11 characters long (a training review "外形很漂亮，系统界面漂亮，键盘..."
# cut after 11 characters is a test review; the example is a 49-character prefix), while
# at 8-9 ordinary phrases found inside longer reviews ("总的来说还是不错的", "不建议入住此酒店")
# would remove held-out reviews that merely use them. In the news corpus 10 also removes datelines
# such as "新华社北京1月13日电" repeated inside held-out sentences: a few sentences more removed
# than needed, never a leak kept.
CONTAINMENT_MIN_CHARS = 10


class _Fold(dict):
    """str.translate table: NFKC-folded letters/digits kept, everything else dropped."""

    def __missing__(self, code: int) -> str:
        folded = normalize_char(chr(code))
        self[code] = kept = folded if unicodedata.category(folded)[0] in "LN" else ""
        return kept


_FOLD = _Fold()


def normalize_text(text: str) -> str:
    """Fold every character as ``normalize_char`` does, then keep only letters and digits
    (Unicode categories L*, N*): whitespace and punctuation vanish."""
    return text.translate(_FOLD)


def _prefix_index(texts: list[str], k: int) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        if len(text) >= k:
            index.setdefault(text[:k], []).append(i)
    return index


def _contained_in(small: list[str], large: list[str], k: int):
    """Pairs (i, j) with ``small[i] in large[j]`` and ``len(small[i]) >= k``: every such
    ``small[i]`` starts with a k-gram of ``large[j]``, so index the first k characters of the
    small texts, look up every k-gram of the large ones, and verify the candidates with ``in``."""
    index = _prefix_index(small, k)
    for j, text in enumerate(large):
        hits = {text[p:p + k] for p in range(len(text) - k + 1)} & index.keys()
        for gram in hits:
            for i in index[gram]:
                if small[i] in text:
                    yield i, j


def near_duplicates(texts, references, min_chars: int = CONTAINMENT_MIN_CHARS) -> set[int]:
    """Indices of ``texts`` that, after ``normalize_text``, equal a reference, are contained in
    one, or contain one; containment counts only if the contained text has ``min_chars`` or more
    characters (else a held-out review holding the one-character review "好" would match)."""
    for name, value in (("texts", texts), ("references", references)):
        if isinstance(value, str):
            raise TypeError(f"{name}={value[:20]!r}... must be a list of texts, not one string")
    check_positive_int("min_chars", min_chars)
    texts = [normalize_text(t) for t in texts]
    references = [normalize_text(t) for t in references]
    equal = set(references)
    found = {i for i, t in enumerate(texts) if t in equal}
    found |= {i for i, _ in _contained_in(texts, references, min_chars)}
    found |= {j for _, j in _contained_in(references, texts, min_chars)}
    return found
