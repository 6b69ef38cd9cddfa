"""Chapter 3.3.5, more views: accuracy against any measured cost, with error bars over seeds.

    plots.ch5_more.accuracy_vs_cost(load_results("methods"), "memory.total")   # accuracy vs training memory
    plots.ch5_more.accuracy_vs_cost(results, "sec_per_step")                   # vs step time

Each method is one point in its colour (mean over seeds, bars = one standard deviation on both axes
when there are several seeds), named beside the point; counts are drawn on a log axis, memory and time
on a linear one (in MiB, ms).
"""
from __future__ import annotations

from matplotlib.figure import Figure

from ..experiments.analysis import summarize
from ..i18n import t
from .common import accuracy_axis, figure, human_count, measured_note, name
from .labels import direct_labels
from .style import color

# cost field -> (axis label key, unit the axis is drawn in, scale: "log" for counts, "linear" for
# memory and time, which add up and whose differences are what a reader weighs)
COSTS = {
    "memory.total": ("memory", "MiB", "linear"),
    "trainable_params": ("trainable_params", "", "log"),
    "adapter_bytes": ("crit_adapter_bytes", "KiB", "log"),
    "sec_per_step": ("crit_train_speed", "ms", "linear"),
}
UNITS = {"MiB": 2.0 ** -20, "KiB": 2.0 ** -10, "ms": 1000.0, "": 1.0}


def accuracy_vs_cost(results: dict, cost: str = "memory.total", labels=None) -> Figure:
    """Test accuracy (mean ± std over seeds) against a measured cost (``COSTS``), one point per method."""
    if cost not in COSTS:
        raise ValueError(f"cost={cost!r} is not one of {list(COSTS)}")
    rows = [r for r in summarize(results, metrics=["test_accuracy", cost])
            if (labels is None or r["label"] in labels) and r["test_accuracy"]["n"] and r[cost]["n"]]
    if not rows:
        raise ValueError(f"no finished run measured both test_accuracy and {cost!r} in these results")
    key, unit, scale = COSTS[cost]
    k = UNITS[unit]
    xs, ys = [k * r[cost]["mean"] for r in rows], [r["test_accuracy"]["mean"] for r in rows]
    yerr = [r["test_accuracy"]["std"] if r["test_accuracy"]["n"] > 1 else 0.0 for r in rows]
    xerr = [k * r[cost]["std"] if r[cost]["n"] > 1 else 0.0 for r in rows]
    fig, ax = figure(width=11, height=6.4)
    for r, x, y, ey, ex in zip(rows, xs, ys, yerr, xerr):
        ax.errorbar(x, y, yerr=ey or None, xerr=ex or None, fmt="o", markersize=8, capsize=3,
                    color=color(r["label"]), markeredgecolor="white", zorder=3)
    label = t("with_unit", label=t(key), unit=unit) if unit else t(key)
    if scale == "log":
        ax.set_xscale("log")
        ax.set_xlim(min(xs) / 2.5, max(xs) * 6)   # room on the right for the names
        ax.xaxis.set_major_formatter(lambda v, _: human_count(v))
        label = t("log_axis", label=label)
    else:
        span = max(xs) - min(xs) or max(xs)
        ax.set_xlim(max(0.0, min(xs) - 0.06 * span), max(xs) + 0.22 * span)
    accuracy_axis(ax)
    ax.set_xlabel(label)
    ax.set_ylabel(t("test_accuracy"))
    ax.set_title(f"{t('crit_accuracy')} vs {t(key)}")
    direct_labels(ax, xs, ys, [name(r["label"]) for r in rows], [color(r["label"]) for r in rows], yerr=yerr)
    seeds = max(r["test_accuracy"]["n"] for r in rows)
    measured_note(fig, results, seeds)
    return fig


__all__ = ["COSTS", "accuracy_vs_cost"]
