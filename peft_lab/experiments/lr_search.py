"""Choosing a learning rate on validation only, and growing a grid whose best rate sits on its edge.

A final spec may leave ``lr=SEARCH``: it is resolved from the finished ``lr_search`` runs of the
same group, by the validation metric only. A grid whose best rate (or one tied with it) sits on
its edge first gains the next rate beyond that edge (up to ``MAX_EXTENSIONS`` times), so no rate
is chosen only because the grid stopped there.
"""
from __future__ import annotations

import dataclasses
import math

from .spec import SEARCH, Spec

# the validation metric that chooses a learning rate (never a test metric)
SELECTION_METRIC = {"sentiment": "val_accuracy", "segmentation": "val_f1"}
MAX_EXTENSIONS = 2  # rates a grid may gain beyond its edges


def best_on_validation(candidates: list[tuple[object, dict]], metric: str):
    """The candidate (a learning rate, a C, ...) whose result scored best on ``metric``.

    ``candidates`` holds (value, result) pairs. Only a validation metric is accepted; diverged
    runs (metric missing) are skipped; a tie goes to the first candidate, so the choice is
    deterministic.
    """
    if not metric.startswith("val_"):
        raise ValueError(f"hyperparameters are chosen on validation only, not on {metric!r}")
    scored = [(value, r["metrics"].get(metric)) for value, r in candidates]
    scored = [(value, s) for value, s in scored if s is not None]
    if not scored:
        raise RuntimeError(f"every candidate in {[v for v, _ in candidates]} diverged: "
                           f"extend the grid downwards")
    return max(scored, key=lambda pair: pair[1])[0]  # max keeps the first of equal scores


def resolve(spec: Spec, specs: list[Spec], done: dict[str, dict], placeholder: bool = False) -> Spec:
    """``spec`` with lr=SEARCH replaced by the chosen rate (``placeholder``: by the grid's
    first rate, which keys the same number of distinct runs, for planning)."""
    if spec.lr != SEARCH:
        return spec
    group = [s for s in specs if s.stage == "lr_search" and s.search_group == spec.search_group]
    if not group:
        raise ValueError(f"{spec.label!r} ({spec.variant or spec.task}) has lr=SEARCH but no lr_search runs")
    if placeholder:
        return dataclasses.replace(spec, lr=group[0].lr)
    searched = [(s.lr, done[s.key()]) for s in group]
    return dataclasses.replace(spec, lr=best_on_validation(searched, SELECTION_METRIC[spec.task]))


def one_three(x: float) -> float:
    """The nearest rate of the 1-3 series (..., 1e-3, 3e-3, 1e-2, ...) in log scale."""
    k = math.floor(math.log10(x))
    return min((float(f"{c}e{k}") for c in (1, 3, 10)), key=lambda c: abs(math.log10(c / x)))


def edge_extensions(specs: list[Spec], done: dict[str, dict], grown: dict[tuple, int]) -> list[Spec]:
    """One more lr_search spec beyond each edge of a finished grid that holds a best rate -- the
    chosen one or any rate scoring equal to it (a tie at the edge says as little about the rates
    beyond it as a win there) -- or, if every rate diverged, beyond its lowest: the next rate, one
    grid step further, on the 1-3 series (1e-3 -> 3e-4, 3e-2 -> 1e-1). ``grown`` counts what each
    group gained (and is updated)."""
    groups: dict[tuple, list[Spec]] = {}
    for s in specs:
        if s.stage == "lr_search":
            groups.setdefault(s.search_group, []).append(s)
    more = []
    for name, group in groups.items():
        if grown.get(name, 0) >= MAX_EXTENSIONS or any(s.key() not in done for s in group):
            continue
        by_lr = {s.lr: s for s in group}
        lrs = sorted(by_lr)
        if len(lrs) < 2:
            continue
        step = (lrs[-1] / lrs[0]) ** (1 / (len(lrs) - 1))   # the grid's mean ratio
        best = best_rates(lrs, by_lr, done)
        for edge, beyond in ((lrs[0], lrs[0] / step), (lrs[-1], lrs[-1] * step)):
            if edge in best and grown.get(name, 0) < MAX_EXTENSIONS:
                more.append(dataclasses.replace(by_lr[edge], lr=one_three(beyond)))
                grown[name] = grown.get(name, 0) + 1
    return more


def best_rates(lrs: list[float], by_lr: dict[float, Spec], done: dict[str, dict]) -> list[float]:
    """Every rate of a finished grid whose validation score equals the best (the lowest if all diverged)."""
    metric = SELECTION_METRIC[by_lr[lrs[0]].task]
    scores = {lr: done[by_lr[lr].key()]["metrics"].get(metric) for lr in lrs}
    try:
        best = best_on_validation([(lr, done[by_lr[lr].key()]) for lr in lrs], metric)
    except RuntimeError:  # every rate diverged: look lower
        return [lrs[0]]
    return [lr for lr in lrs if scores[lr] == scores[best]]
