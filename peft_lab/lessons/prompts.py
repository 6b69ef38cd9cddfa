"""04_prefix_tuning: the verdicts the notebook reads off the measured sweeps, as plain data.

Every comparison goes through ``experiments.noise.compare`` (difference of means, twice its standard
error from seeds and test set as the noise threshold); these functions only choose what to compare.

    from peft_lab.lessons import prompts
    prompts.length_effect(load_results("prefix_length"), "prefix_tuning", n_test)   # is longer better?
    prompts.steering_comparisons(steering.load())                                  # do the prefixes steer?
    prompts.designs_vs_references(load_results("methods"), n_test)                  # soft prompts vs probe, full
"""
from __future__ import annotations

from ..experiments.noise import compare, group_stats
from ..methods import SOFT_PROMPT_DESIGNS as DESIGNS

LENGTH = "config.num_virtual_tokens"
STEERING_PAIRS = (("positive", "negative"), ("positive", "all"), ("negative", "all"))


def length_effect(results: dict, design: str, n_test: int) -> dict:
    """Along a prefix-length sweep of one ``design`` (a run ``label``): the lengths measured, the lowest
    and highest mean, the seeds per length (of the shortest), the length with the best mean, and the
    lengths whose mean is beyond noise of that best one (empty: the curve is flat within noise)."""
    groups = group_stats(results, LENGTH, where={"label": design})
    if not groups:
        raise ValueError(f"design={design!r} has no finished run in this sweep")
    lengths = sorted(groups)
    best = max(lengths, key=lambda L: groups[L]["mean"])
    far = [L for L in lengths if L != best
           and not compare(results, L, best, n_test, by=LENGTH, where={"label": design})["within_noise"]]
    means = [groups[L]["mean"] for L in lengths]
    return {"lengths": lengths, "low": min(means), "high": max(means), "seeds": groups[lengths[0]]["n"],
            "best": best, "beyond_noise": far}


def steering_comparisons(results: dict, pairs=STEERING_PAIRS) -> dict[tuple[str, str], dict]:
    """``compare`` of the positive share between each pair of prefixes of ``results/steering.json``; the
    sampling error counts the generations per seed (``meta.recipe.generations``), not test reviews."""
    n = results["meta"]["recipe"]["generations"]
    return {(a, b): compare(results, a, b, n_test=n, by="prefix", metric="positive_share") for a, b in pairs}


def steered_apart(comparison: dict) -> bool:
    """Whether group a is above group b by more than the noise threshold (a real, positive effect)."""
    return comparison["difference"] > 0 and not comparison["within_noise"]


def designs_vs_references(results: dict, n_test: int, designs=DESIGNS, probe: str = "head_only",
                          full: str = "full") -> dict:
    """Each soft-prompt design against the linear probe (``probe``), the best design (by mean) against
    full fine-tuning, which designs tie with the probe, and the spread of the designs' means."""
    groups = group_stats(results)
    missing = [d for d in designs if d not in groups]
    if missing:
        raise ValueError(f"designs={tuple(designs)!r}: no finished run with label {missing[0]!r}; labels: {list(groups)}")
    vs_probe = {d: compare(results, d, probe, n_test) for d in designs}
    best = max(designs, key=lambda d: groups[d]["mean"])
    means = [groups[d]["mean"] for d in designs]
    return {"vs_probe": vs_probe, "vs_full": compare(results, best, full, n_test),
            "tie": [d for d, c in vs_probe.items() if c["within_noise"]], "spread": max(means) - min(means)}
