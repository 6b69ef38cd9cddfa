"""Is a measured difference in accuracy real, or within noise?

Two things make a measured test accuracy wobble:

- **the test set.** Accuracy p measured on N reviews is a binomial proportion with standard
  error ``sqrt(p (1 - p) / N)``. Every seed is scored on the same N reviews, so more seeds do
  not shrink this part.
- **the seed** (initialisation of the new parts, batch order, dropout). Its spread is the sample
  standard deviation over seeds; the mean of n seeds carries ``std / sqrt(n)``.

The difference of two groups' means, Δ = mean_a - mean_b, then has the standard error

    se = sqrt(std_a² / n_a + std_b² / n_b + p_a (1 - p_a) / N + p_b (1 - p_b) / N)

which is conservative: it treats the two groups' test-set errors as independent, while both are
scored on the same reviews. Runs that stored their per-review test outcomes can be compared
sharper, pair by pair on the same reviews (``peft_lab.experiments.paired``); this module serves
summary statistics and runs without outcomes. A difference is *within noise* when
``|Δ| < z · se``; z = 2 is about a 95 % two-sided band for a normal error. With two or three
seeds the standard deviations are themselves rough, so a verdict near the threshold is weak
either way.

    from peft_lab.experiments import load_results
    from peft_lab.experiments.noise import compare, n_test_examples, pairwise, smallest_within_noise
    compare(load_results("methods"), "adapter_houlsby", "adapter_pfeiffer", n_test=n_test_examples())
"""
from __future__ import annotations

import itertools
import math

from .analysis import summarize
from ..checks import check_positive_int

Z = 2.0   # |Δ| < Z · se counts as within noise (≈ 95 % two-sided for a normal error)


def _check_n(name: str, n) -> int:
    return check_positive_int(name, n, owner="the number of test examples")


def sampling_error(p: float, n: int) -> float:
    """Standard error of an accuracy ``p`` measured on ``n`` examples: ``sqrt(p (1 - p) / n)``."""
    _check_n("n", n)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"p={p!r} must be an accuracy in [0, 1]")
    return math.sqrt(p * (1 - p) / n)


def n_test_examples(task: str = "sentiment") -> int:
    """How many examples the test split of ``task`` holds (what every test accuracy was measured on)."""
    from ..tasks import get_task
    splits = get_task(task).splits()   # an unknown task raises with the names that exist
    if "test" not in splits:
        raise ValueError(f"task={task!r} has no test split; splits: {sorted(splits)}")
    return len(splits["test"])


def group_stats(results: dict, by: str = "label", metric: str = "test_accuracy", where: dict | None = None) -> dict:
    """``{group: {"mean", "std", "n"}}`` of ``metric`` over the final runs, one entry per value of ``by``."""
    return {row[by]: row[metric] for row in summarize(results, by=by, metrics=[metric], where=where)
            if row[metric]["n"]}


def compare(results: dict, a, b, n_test: int, by: str = "label", metric: str = "test_accuracy",
            z: float = Z, where: dict | None = None) -> dict:
    """Δ = mean(a) - mean(b) of ``metric`` with its standard error (seeds and test set, see the
    module docstring) and whether ``|Δ| < z · se``. ``a`` and ``b`` are values of the field ``by``."""
    _check_n("n_test", n_test)
    if isinstance(z, bool) or not isinstance(z, (int, float)) or not z > 0:
        raise ValueError(f"z={z!r} must be a positive number of standard errors")
    groups = group_stats(results, by, metric, where)
    missing = [g for g in (a, b) if g not in groups]
    if missing:
        raise ValueError(f"no finished run with {by} = {missing[0]!r}; {by} values there: {list(groups)}")
    return {"a": a, "b": b, **compare_stats(groups[a], groups[b], n_test, z)}


def compare_stats(sa: dict, sb: dict, n_test: int, z: float = Z) -> dict:
    """:func:`compare`'s arithmetic on two groups' seed statistics ``{"mean", "std", "n"}`` (as
    ``group_stats`` gives them), each mean measured on a test set of ``n_test`` examples."""
    _check_n("n_test", n_test)
    seeds = sa["std"] ** 2 / sa["n"] + sb["std"] ** 2 / sb["n"]
    test = sampling_error(sa["mean"], n_test) ** 2 + sampling_error(sb["mean"], n_test) ** 2
    se = math.sqrt(seeds + test)
    difference = sa["mean"] - sb["mean"]
    return {"mean_a": sa["mean"], "mean_b": sb["mean"], "std_a": sa["std"], "std_b": sb["std"],
            "runs_a": sa["n"], "runs_b": sb["n"], "difference": difference, "se": se, "threshold": z * se,
            "within_noise": abs(difference) < z * se}


def pairwise(results: dict, groups, n_test: int, by: str = "label", metric: str = "test_accuracy",
             z: float = Z) -> list[dict]:
    """:func:`compare` for every pair of ``groups`` (in the given order: a before b)."""
    return [compare(results, a, b, n_test, by, metric, z) for a, b in itertools.combinations(list(groups), 2)]


def smallest_within_noise(results: dict, x: str, n_test: int, metric: str = "test_accuracy", z: float = Z) -> dict:
    """Along a sweep over ``x`` (e.g. ``"config.bottleneck"``): the setting with the best mean, and the
    smallest setting whose mean is within noise of it -- the cheapest choice the data cannot tell
    apart from the best. Returns ``{"best", "chosen", "comparisons"}`` (each setting vs the best)."""
    groups = group_stats(results, x, metric)
    if not groups:
        raise ValueError(f"no finished run has a value for {x!r}")
    best = max(groups, key=lambda g: groups[g]["mean"])
    comparisons = {g: compare(results, g, best, n_test, x, metric, z) for g in sorted(groups)}
    chosen = min(g for g, c in comparisons.items() if g == best or c["within_noise"])
    return {"best": best, "chosen": chosen, "comparisons": comparisons}
