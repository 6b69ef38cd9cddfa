"""The character vocabulary: full-width letters and digits folded to ASCII, five special tokens,
the most frequent characters of the pretraining text."""
from __future__ import annotations

import functools
import unicodedata
from collections import Counter
from dataclasses import dataclass


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
