"""The input checks the methods and the calculator share, each written once (no torch here).

Every check raises a ``ValueError`` that names the field, the value and what is allowed;
``owner`` (when given) says whose field it is: ``"Linear 'q_proj': in_features=0 must be ..."``.
"""
from __future__ import annotations

import math
from typing import Iterable


def _fail(owner: str | None, message: str) -> None:
    raise ValueError(f"{owner}: {message}" if owner else message)


def check_positive_int(name: str, value, owner: str | None = None) -> int:
    """An integer >= 1 (``True`` is not 1 here); returns it."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        _fail(owner, f"{name}={value!r} must be a positive integer")
    return value


def check_positive(name: str, value, owner: str | None = None) -> float:
    """A finite number > 0; returns it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        _fail(owner, f"{name}={value!r} must be a positive number")
    return value


def check_non_negative(name: str, value, owner: str | None = None) -> float:
    """A number >= 0; returns it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        _fail(owner, f"{name}={value!r} must be a number >= 0")
    return value


def check_probability(name: str, value, owner: str | None = None) -> float:
    """A probability in [0, 1) (dropout, a fraction of the steps); returns it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        _fail(owner, f"{name}={value!r} must be in [0, 1)")
    return value


def check_choice(name: str, value, allowed: Iterable, owner: str | None = None):
    """One of ``allowed``, of the same kind (1 is not True, 64.0 is not 64); returns it."""
    allowed = tuple(allowed)
    if not any(value == a and _same_kind(value, a) for a in allowed):
        _fail(owner, f"{name}={value!r} is not one of {allowed}")
    return value


def _same_kind(value, allowed) -> bool:
    """1 is not True and 64.0 is not the block size 64, though Python finds them equal."""
    return isinstance(value, bool) is isinstance(allowed, bool) and \
        not (isinstance(allowed, int) and isinstance(value, float))


def check_bool(name: str, value, owner: str | None = None) -> bool:
    """True or False: "no" or 0 would silently read as a truth value."""
    if not isinstance(value, bool):
        _fail(owner, f"{name}={value!r} must be True or False")
    return value
