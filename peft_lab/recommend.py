"""Which method fits *your* constraints: a score from measured metrics and weights you choose.

The source chapter ranks methods from invented numbers. Here every input is measured (a results
dict from ``peft_lab.experiments``) and the weights are the reader's:

    from peft_lab.experiments import load_results
    from peft_lab.recommend import recommend
    recommend(load_results("methods"), {"accuracy": 3, "memory": 1, "latency": 1})
    # -> [(label, score), ...], best first; score in [0, 1]

Per criterion, each method's mean over its final runs is min-max normalised across methods so
that 1 is the best method and 0 the worst (accuracy: higher is better; everything else: lower
is better). Counts and bytes span orders of magnitude (a head-only probe trains a thousand
parameters, full fine-tuning a million), so by default they are normalised on a log scale;
``log_scale=False`` uses raw values. The score is the weighted mean of the normalised values,
in [0, 1]. A criterion nobody measured (e.g. memory in quick runs) is left out; a method
missing a criterion others have gets 0 for it (no credit for what was not measured).
"""
from __future__ import annotations

import math

from .experiments.analysis import summarize

# criterion -> (metric in the results, +1 if higher is better / -1 if lower is better, log scale by default)
CRITERIA = {
    "accuracy": ("test_accuracy", +1, False),
    "trainable_params": ("trainable_params", -1, True),
    "memory": ("memory.total", -1, True),
    "latency": ("deployed_latency", -1, False),      # merged latency where the method merges
    "adapter_bytes": ("adapter_bytes", -1, True),
    "train_speed": ("sec_per_step", -1, False),
}


def _deployed_latency(run: dict):
    m = run.get("metrics") or {}
    merged = m.get("latency_merged_ms")
    return merged if merged is not None else m.get("latency_ms")


def metric_table(results: dict, labels=None, criteria=tuple(CRITERIA)) -> dict[str, dict[str, float | None]]:
    """{label: {criterion: mean over the label's final runs, or None}} in the results' order."""
    unknown = [c for c in criteria if c not in CRITERIA]
    if unknown:
        raise ValueError(f"unknown criteria {unknown}; known: {list(CRITERIA)}")
    runs = [dict(r, metrics={**(r.get("metrics") or {}), "deployed_latency": _deployed_latency(r)})
            for r in results["runs"]]
    rows = summarize({"runs": runs}, by="label", metrics=[CRITERIA[c][0] for c in criteria])
    table = {row["label"]: {c: row[CRITERIA[c][0]]["mean"] for c in criteria} for row in rows}
    if labels is not None:
        missing = [l for l in labels if l not in table]
        if missing:
            raise ValueError(f"no finished run of {missing} in these results; labels there: {list(table)}")
        table = {l: table[l] for l in labels}
    return table


def normalise(table: dict[str, dict[str, float | None]], log_scale: bool = True) -> dict[str, dict[str, float | None]]:
    """Min-max per criterion across labels, 1 = best; None stays None. A criterion on which every
    measured label ties gives all of them 1."""
    out: dict[str, dict[str, float | None]] = {label: {} for label in table}
    criteria = dict.fromkeys(c for row in table.values() for c in row)
    for c in criteria:
        _, sign, log = CRITERIA[c]
        log = log and log_scale
        values = {l: _transform(row.get(c), log) for l, row in table.items()}
        present = [v for v in values.values() if v is not None]
        lo, hi = (min(present), max(present)) if present else (0.0, 0.0)
        for label, v in values.items():
            if v is None:
                out[label][c] = None
            elif hi == lo:
                out[label][c] = 1.0
            else:
                x = (v - lo) / (hi - lo)
                out[label][c] = x if sign > 0 else 1.0 - x
    return out


def _transform(v, log: bool):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None
    if log:
        return math.log10(v) if v > 0 else None
    return float(v)


def check_weights(weights: dict) -> dict[str, float]:
    """Weights must name known criteria, be >= 0, and not all be 0."""
    unknown = [c for c in weights if c not in CRITERIA]
    if unknown:
        raise ValueError(f"unknown criteria {unknown} in weights; known: {list(CRITERIA)}")
    for c, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise ValueError(f"weights[{c!r}]={w!r} must be a number >= 0")
    if not any(w > 0 for w in weights.values()):
        raise ValueError(f"weights={weights!r}: at least one weight must be > 0")
    return {c: float(w) for c, w in weights.items()}


def scores(normalised: dict[str, dict[str, float | None]], weights: dict) -> list[tuple[str, float]]:
    """Weighted mean of the normalised values per label, best first (ties keep the given order)."""
    weights = check_weights(weights)
    measured = [c for c, w in weights.items() if w > 0
                and any(row.get(c) is not None for row in normalised.values())]
    if not measured:
        raise ValueError(f"none of the weighted criteria {[c for c, w in weights.items() if w > 0]} "
                         f"was measured in these results")
    total = sum(weights[c] for c in measured)
    ranked = [(label, sum(weights[c] * (row.get(c) or 0.0) for c in measured) / total)
              for label, row in normalised.items()]
    return sorted(ranked, key=lambda pair: -pair[1])


def recommend(results: dict, weights: dict, labels=None, log_scale: bool = True) -> list[tuple[str, float]]:
    """Methods ranked by the weighted mean of their normalised measured metrics: [(label, score)].

    ``weights``: {criterion: weight >= 0} over ``CRITERIA`` (accuracy, trainable_params, memory,
    latency, adapter_bytes, train_speed); ``labels`` restricts the candidates (and the min-max).
    """
    weights = check_weights(weights)
    table = metric_table(results, labels, criteria=tuple(weights))
    return scores(normalise(table, log_scale), weights)
