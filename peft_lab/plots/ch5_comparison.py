"""Chapter 3.3.5 (comparison): every method on every measured criterion.

The heat map, the radar and the recommendation (``peft_lab.recommend``) share one normalisation:
per criterion, min-max across the methods shown, 1 = best (accuracy up; parameters, memory,
latency, adapter size and step time down; counts and bytes on a log scale). Colours encode that
score; the numbers written in the cells are the measured values themselves.
"""
from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from ..experiments.analysis import summarize
from ..i18n import t
from ..recommend import CRITERIA, metric_table, normalise
from .common import figure, final_runs, human_bytes, human_count, measured_note, metric_axis, name
from .style import color

MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">")
DEFAULT_CRITERIA = ("accuracy", "trainable_params", "memory", "latency", "adapter_bytes", "train_speed")
FORMATS = {
    "accuracy": lambda v: f"{100 * v:.1f}%",
    "trainable_params": human_count,
    "memory": human_bytes,
    "latency": lambda v: f"{v:.3g} ms",
    "adapter_bytes": human_bytes,
    "train_speed": lambda v: f"{1000 * v:.0f} ms",
}


def _available(table: dict, criteria) -> list[str]:
    """The criteria at least one method measured (quick runs measure no memory or latency)."""
    kept = [c for c in criteria if any(row.get(c) is not None for row in table.values())]
    if not kept:
        raise ValueError(f"none of {list(criteria)} was measured in these results")
    return kept


def heatmap(results: dict, labels=None, criteria=DEFAULT_CRITERIA) -> Figure:
    """Methods × criteria: colour = normalised score (1 = best in its column), text = the
    measured mean. Criteria nobody measured are dropped; a missing cell is blank."""
    table = metric_table(results, labels, criteria)
    criteria = _available(table, criteria)
    norm = normalise({l: {c: row[c] for c in criteria} for l, row in table.items()})
    labels = list(table)
    score = np.array([[np.nan if norm[l][c] is None else norm[l][c] for c in criteria] for l in labels])
    text = np.array([["" if table[l][c] is None else FORMATS[c](table[l][c]) for c in criteria] for l in labels])
    fig, ax = figure(width=1.65 * len(criteria) + 4.0, height=0.45 * len(labels) + 2.4)
    sns.heatmap(score, ax=ax, annot=text, fmt="", cmap="RdYlGn", vmin=0, vmax=1, linewidths=0.6,
                linecolor="white", annot_kws={"fontsize": 10}, cbar_kws={"label": t("normalised_score")})
    ax.set_xticklabels([t(f"crit_{c}") for c in criteria], rotation=0, fontsize=10)
    ax.set_yticklabels([name(l) for l in labels], rotation=0)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.grid(False)
    ax.set_title(t("heatmap_title"), pad=12)
    measured_note(fig, results, _max_seeds(results), means=True)
    return fig


def radar(results: dict, methods=None, criteria=DEFAULT_CRITERIA) -> Figure:
    """Normalised scores (1 = best among ``methods``) on polar axes, one polygon per method.

    The polar axes are made with ``subplot_kw={"projection": "polar"}`` -- not the source chapter's
    ``plt.subplot(122, projection='polar')`` on top of an existing grid, which breaks the layout.
    """
    table = metric_table(results, methods, criteria)
    criteria = _available(table, criteria)
    norm = normalise({l: {c: row[c] for c in criteria} for l, row in table.items()})
    fig, ax = figure(width=9.5, height=6.8, subplot_kw={"projection": "polar"})
    ax.set_theta_offset(np.pi / 2)    # first criterion at the top, then clockwise:
    ax.set_theta_direction(-1)        # no label sits at the far left or right edge
    angles = np.linspace(0, 2 * np.pi, len(criteria), endpoint=False)
    closed = np.append(angles, angles[0])
    for label, row in norm.items():
        values = [row[c] if row[c] is not None else 0.0 for c in criteria]
        values.append(values[0])
        ax.plot(closed, values, linewidth=2, color=color(label), label=name(label))
        ax.fill(closed, values, color=color(label), alpha=0.08)
    ax.set_xticks(angles, [t(f"crit_{c}") for c in criteria], fontsize=11)
    ax.set_ylim(0, 1.05)
    ax.set_yticks([0.25, 0.5, 0.75, 1.0], ["", "0.5", "", "1"], fontsize=9)
    ax.set_title(t("radar_title"), pad=18)
    fig.legend(loc="outside right upper", frameon=False, fontsize=10)
    measured_note(fig, results, _max_seeds(results), means=True)
    return fig


def accuracy_vs_params(results: dict, labels=None) -> Figure:
    """Test accuracy (mean ± std over seeds) against trainable parameters (log axis), one point
    per method in its colour."""
    rows = summarize(results, by="label", metrics=["test_accuracy", "trainable_params"])
    rows = [r for r in rows if (labels is None or r["label"] in labels) and r["test_accuracy"]["mean"] is not None]
    if not rows:
        raise ValueError("no finished run with test_accuracy in these results")
    fig, ax = figure(width=11, height=5.8)
    for i, r in enumerate(rows):   # methods with equal counts (the LoRA family) overlap: shapes tell them apart
        acc = r["test_accuracy"]
        ax.errorbar(r["trainable_params"]["mean"], acc["mean"], yerr=acc["std"] if acc["n"] > 1 else None,
                    fmt=MARKERS[i % len(MARKERS)], markersize=10, capsize=4, color=color(r["label"]),
                    markeredgecolor="white", label=name(r["label"]), alpha=0.9)
    metric_axis(ax, "test_accuracy")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(lambda v, _: human_count(v))
    ax.set_xlabel(t("trainable_params_log"))
    ax.set_ylabel(t("test_accuracy"))
    ax.set_title(t("acc_params_title"))
    fig.legend(loc="outside right upper", frameon=False, fontsize=10, ncol=1 if len(rows) <= 12 else 2)
    measured_note(fig, results, _max_seeds(results))
    return fig


def _max_seeds(results: dict) -> int:
    counts: dict[str, int] = {}
    for r in final_runs(results):
        counts[r["label"]] = counts.get(r["label"], 0) + 1
    return max(counts.values(), default=0)


__all__ = ["heatmap", "radar", "accuracy_vs_params", "CRITERIA", "DEFAULT_CRITERIA"]
