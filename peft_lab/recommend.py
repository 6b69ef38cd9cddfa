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

Min-max stretches any gap, however small, to the full [0, 1]: two methods whose accuracies
differ by less than their noise would score 1 and 0. ``accuracy_tiers`` groups methods that
cannot be told apart (a paired bootstrap on the stored test outcomes, ``experiments.paired``;
for results without outcomes, ``experiments.noise.compare``), ``recommend(..., tiers=True)``
scores accuracy by tier instead (best tier 1, worst 0, equal steps), and ``within_noise``
says which of the top choices are in the first choice's accuracy tier:

    ranked = recommend(results, {"accuracy": 3, "memory": 1}, tiers=True)
    within_noise(results, ranked, top=3)   # e.g. ["lora", "dora"]: their accuracies tie
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


def normalise(table: dict[str, dict[str, float | None]], log_scale: bool = True,
              accuracy_tiers: dict[str, int] | None = None) -> dict[str, dict[str, float | None]]:
    """Min-max per criterion across labels, 1 = best; None stays None. A criterion on which every
    measured label ties gives all of them 1. With ``accuracy_tiers`` ({label: tier}, 1 = best)
    accuracy is scored by tier instead: ``tier_score``."""
    out: dict[str, dict[str, float | None]] = {label: {} for label in table}
    criteria = dict.fromkeys(c for row in table.values() for c in row)
    for c in criteria:
        if c == "accuracy" and accuracy_tiers is not None:
            for label, row in table.items():
                out[label][c] = None if row.get(c) is None else tier_score(accuracy_tiers, label)
            continue
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


def tier_score(tiers: dict[str, int], label: str) -> float:
    """A tier as a score: 1 for the best tier, 0 for the worst, equal steps between (1 if one tier)."""
    if label not in tiers:
        raise ValueError(f"accuracy tiers name no {label!r}; they cover {list(tiers)}")
    worst = max(tiers.values())
    return 1.0 if worst == 1 else (worst - tiers[label]) / (worst - 1)


def accuracy_tiers(results: dict, labels=None, alpha: float = 0.05, n_resamples: int = 2000,
                   seed: int = 0) -> tuple[dict[str, int], str]:
    """({label: tier}, source), tier 1 = the best method and those within noise of it, and so on
    (``paired.group_tiers``). source "paired": every final run stored its test outcomes, so pairs
    are compared on the same reviews (paired bootstrap, p >= ``alpha`` = within noise); "noise":
    some run has none, so ``noise.compare`` (|Δ| < 2 se, independent errors; conservative) decides."""
    from .experiments import noise, paired
    finals = [r for r in results["runs"] if r.get("stage", "final") == "final" and r.get("status", "ok") == "ok"
              and (labels is None or r["label"] in labels)]
    if finals and all((r.get("details") or {}).get("test_outcomes") for r in finals):
        return paired.tiers(paired.pairwise_matrix(results, labels, n_resamples=n_resamples, seed=seed), alpha), "paired"
    groups = noise.group_stats(results)
    if labels is not None:
        missing = [l for l in labels if l not in groups]
        if missing:
            raise ValueError(f"no finished run with test_accuracy of {missing}; labels there: {list(groups)}")
        groups = {l: groups[l] for l in labels}
    order = sorted(groups, key=lambda l: -groups[l]["mean"])
    eval_size = next((r.get("eval_size") for r in finals if r.get("eval_size")), None)
    n_test = eval_size or noise.n_test_examples(finals[0].get("task", "sentiment") if finals else "sentiment")
    same = [[a == b or noise.compare(results, a, b, n_test)["within_noise"] for b in order] for a in order]
    return paired.group_tiers(order, same), "noise"


def within_noise(results: dict, ranked: list[tuple[str, float]], top: int = 3, **tier_options) -> list[str]:
    """Which of the ``top`` first choices of ``ranked`` (``recommend``'s answer) are in the first
    choice's accuracy tier (``accuracy_tiers``): more than one means the data cannot say which of
    them is more accurate."""
    labels = [label for label, _ in ranked]
    tiers, _ = accuracy_tiers(results, labels, **tier_options)
    return [l for l in labels[:top] if tiers[l] == tiers[labels[0]]]


def recommend(results: dict, weights: dict, labels=None, log_scale: bool = True,
              tiers: bool = False) -> list[tuple[str, float]]:
    """Methods ranked by the weighted mean of their normalised measured metrics: [(label, score)].

    ``weights``: {criterion: weight >= 0} over ``CRITERIA`` (accuracy, trainable_params, memory,
    latency, adapter_bytes, train_speed); ``labels`` restricts the candidates (and the min-max).
    ``tiers=True`` scores accuracy by ``accuracy_tiers`` (methods within noise of each other get
    the same score) instead of min-max.
    """
    weights = check_weights(weights)
    table = metric_table(results, labels, criteria=tuple(weights))
    groups = accuracy_tiers(results, list(table))[0] if tiers and "accuracy" in weights else None
    return scores(normalise(table, log_scale, accuracy_tiers=groups), weights)
