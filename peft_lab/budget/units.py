"""Human units and the small tables the budget reports print. Pure Python."""
from __future__ import annotations

from typing import Iterable


def human_count(n: float) -> str:
    """Parameter counts in decimal units: 4194304 -> '4.19 M', 6738415616 -> '6.74 B'."""
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f}"


def human_bytes(n: float) -> str:
    """Memory in binary units, as GPUs and `nvidia-smi` report it: 13535870976 -> '12.6 GiB'."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def table(title: str, rows: Iterable[tuple[str, str]], note: str = "") -> str:
    """A two-column text table: a title line, aligned rows, an optional note."""
    rows = list(rows)
    width = max((len(k) for k, _ in rows), default=0)
    lines = [title] + [f"  {k:<{width}}  {v:>10}" for k, v in rows]
    if note:
        lines.append(f"  ({note})")
    return "\n".join(lines)
