"""Paired comparisons: two methods scored on the *same* test examples.

``noise.compare`` can only treat two accuracies as independent measurements. A run's stored
per-example outcomes (``details["test_outcomes"]``, written by ``execute.train_and_measure``)
allow the sharper, paired question: on the reviews where the two methods disagree, does one win
more often than chance would give?

Storage (JSON-safe, versioned, small): ``encode_outcomes`` / ``decode_outcomes``

* sentiment: one bit per review, "correct or not" -> ``{"format": "bits-base64", "version": 1,
  "n": N, "data": base64(np.packbits(bits))}`` (1,737 reviews: ~300 characters);
* segmentation: ``tasks.SEG_COUNTS`` per sentence window (small non-negative integers) ->
  ``{"format": "counts-base64", "version": 1, "n": N, "columns": [...], "dtype": "uint8" |
  "uint16" | "uint32", "data": base64(little-endian row-major bytes)}``.
"""
from __future__ import annotations

import base64

import numpy as np

from ..tasks import SEG_COUNTS

VERSION = 1
_DTYPES = ("uint8", "uint16", "uint32")


def encode_outcomes(outcomes) -> dict:
    """A JSON-safe dict holding ``outcomes``: (N,) booleans or (N, 5) segmentation counts."""
    a = np.asarray(outcomes)
    if a.dtype == bool and a.ndim == 1:
        return {"format": "bits-base64", "version": VERSION, "n": int(a.size),
                "data": base64.b64encode(np.packbits(a).tobytes()).decode("ascii")}
    if a.ndim == 2 and a.shape[1] == len(SEG_COUNTS) and np.issubdtype(a.dtype, np.integer):
        if a.size and a.min() < 0:
            raise ValueError(f"outcomes hold a negative count ({a.min()}); counts are >= 0")
        top = int(a.max()) if a.size else 0
        dtype = next(d for d in _DTYPES if top <= np.iinfo(d).max)
        return {"format": "counts-base64", "version": VERSION, "n": int(a.shape[0]), "columns": list(SEG_COUNTS),
                "dtype": dtype, "data": base64.b64encode(a.astype("<" + np.dtype(dtype).str[1:]).tobytes()).decode("ascii")}
    raise ValueError(f"outcomes of dtype {a.dtype} and shape {a.shape} are neither (N,) booleans nor "
                     f"(N, {len(SEG_COUNTS)}) integer counts {SEG_COUNTS}")


def decode_outcomes(stored: dict) -> np.ndarray:
    """The array ``encode_outcomes`` stored: (N,) bool or (N, 5) int64."""
    if not isinstance(stored, dict) or "format" not in stored:
        raise ValueError(f"stored outcomes {str(stored)[:60]!r} are not an encode_outcomes dict")
    fmt, version = stored["format"], stored.get("version")
    if version != VERSION:
        raise ValueError(f"outcomes version={version!r} is not supported (this code reads version {VERSION})")
    raw = base64.b64decode(stored["data"])
    n = stored["n"]
    if fmt == "bits-base64":
        return np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=n).astype(bool)
    if fmt == "counts-base64":
        if stored["dtype"] not in _DTYPES or tuple(stored["columns"]) != SEG_COUNTS:
            raise ValueError(f"counts with dtype={stored['dtype']!r}, columns={stored['columns']!r}: "
                             f"expected one of {_DTYPES} and {list(SEG_COUNTS)}")
        flat = np.frombuffer(raw, dtype="<" + np.dtype(stored["dtype"]).str[1:])
        return flat.astype(np.int64).reshape(n, len(SEG_COUNTS))
    raise ValueError(f"outcomes format={fmt!r} is not one of ['bits-base64', 'counts-base64']")
