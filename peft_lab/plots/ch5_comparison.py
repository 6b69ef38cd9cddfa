"""Chapter 3.3.5 (comparison): every method on every measured criterion.

The heat map, the radar and the recommendation (``peft_lab.recommend``) share one normalisation:
per criterion, min-max across the methods shown, 1 = best (accuracy up; parameters, memory,
latency, adapter size and step time down; counts and bytes on a log scale). Colours encode that
score; the numbers written in the cells are the measured values themselves.

Accuracy is the exception (``accuracy_by="tier"``, the default): min-max would stretch a gap
smaller than the noise into full contrast, so its colour is the method's *tier*
(``recommend.accuracy_tiers``: methods within noise of the tier's best share it) and its cell
says mean ± the spread over seeds. ``accuracy_by="minmax"`` restores the stretched colours.
``pairwise`` draws the paired comparison of every two methods (``experiments.paired``).
"""
from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..experiments import paired
from ..experiments.analysis import summarize
from ..i18n import t
from ..recommend import CRITERIA, accuracy_tiers, metric_table, normalise
from .common import accuracy_axis, figure, final_runs, human_bytes, human_count, measured_note, name
from .labels import direct_labels
from .style import color

# The radar's default: one method per family, so five polygons stay tellable apart (≤ 5 by design).
RADAR_DEFAULT = ("full", "lora", "adapter_houlsby", "prefix_tuning", "ia3")
RADAR_MAX = 5
DEFAULT_CRITERIA = ("accuracy", "trainable_params", "memory", "latency", "adapter_bytes", "train_speed")
FORMATS = {
    "accuracy": lambda v: f"{100 * v:.1f}%",
    "trainable_params": human_count,
    "memory": human_bytes,
    "latency": lambda v: f"{v:.3g} ms",
    "adapter_bytes": human_bytes,
    "train_speed": lambda v: f"{1000 * v:.0f} ms",
}


ACCURACY_BY = ("tier", "minmax")
# the pairwise figure's three verdicts: row worse / within noise / row better (blue-orange: colour-blind safe)
VERDICT_COLOURS = ("#d9822b", "#e9e9e9", "#1f4e79")


def _tiers(results: dict, labels: list[str], criteria, accuracy_by: str,
           note: str = "tier_note") -> tuple[dict | None, str]:
    """The accuracy tiers to score by (None: min-max) and the ``note`` that explains them."""
    if accuracy_by not in ACCURACY_BY:
        raise ValueError(f"accuracy_by={accuracy_by!r} must be one of {ACCURACY_BY}")
    if accuracy_by == "minmax" or "accuracy" not in criteria:
        return None, ""
    tiers, source = accuracy_tiers(results, labels)
    how = t("tier_how_paired", alpha=0.05) if source == "paired" else t("tier_how_noise")
    return tiers, t(note, how=how)


def _accuracy_text(results: dict) -> dict[str, str]:
    """{label: "mean% ±std"} (the spread over seeds, in points; no ± for a single seed)."""
    out = {}
    for row in summarize(results, by="label", metrics=["test_accuracy"]):
        acc = row["test_accuracy"]
        if acc["mean"] is not None:
            out[row["label"]] = FORMATS["accuracy"](acc["mean"]) + (f" ±{100 * acc['std']:.1f}" if acc["n"] > 1 else "")
    return out


def _available(table: dict, criteria) -> list[str]:
    """The criteria at least one method measured (quick runs measure no memory or latency)."""
    kept = [c for c in criteria if any(row.get(c) is not None for row in table.values())]
    if not kept:
        raise ValueError(f"none of {list(criteria)} was measured in these results")
    return kept


def heatmap(results: dict, labels=None, criteria=DEFAULT_CRITERIA, accuracy_by: str = "tier") -> Figure:
    """Methods × criteria: colour = normalised score (1 = best in its column), text = the
    measured mean. Criteria nobody measured are dropped; a missing cell is blank. Accuracy is
    coloured by tier and written mean ± spread (``accuracy_by="tier"``, see the module docstring)."""
    table = metric_table(results, labels, criteria)
    criteria = _available(table, criteria)
    labels = list(table)
    tiers, tier_note = _tiers(results, labels, criteria, accuracy_by)
    norm = normalise({l: {c: row[c] for c in criteria} for l, row in table.items()}, accuracy_tiers=tiers)
    score = np.array([[np.nan if norm[l][c] is None else norm[l][c] for c in criteria] for l in labels])
    spread = _accuracy_text(results) if tiers else {}
    text = np.array([["" if table[l][c] is None else spread.get(l, FORMATS[c](table[l][c])) if c == "accuracy"
                      else FORMATS[c](table[l][c]) for c in criteria] for l in labels])
    fig, ax = figure(width=1.65 * len(criteria) + 4.0, height=0.45 * len(labels) + 2.4)
    # cividis: ordered light/dark, readable with any colour vision (a red-green map is not)
    sns.heatmap(score, ax=ax, annot=text, fmt="", cmap="cividis", vmin=0, vmax=1, linewidths=0.6,
                linecolor="white", annot_kws={"fontsize": 10},
                cbar_kws={"label": t("tier_colorbar" if tiers else "normalised_score")})
    arrows = {c: "↑" if CRITERIA[c][1] > 0 else "↓" for c in criteria}   # which way the raw value is better
    ax.set_xticklabels([f"{t(f'crit_{c}')} {arrows[c]}" for c in criteria], rotation=0, fontsize=10)
    if tiers:   # the tier number beside the method's name: the groups read without the colour
        labels_shown = [f"{name(l)}  [{tiers[l]}]" for l in labels]
    else:
        labels_shown = [name(l) for l in labels]
    ax.set_yticklabels(labels_shown, rotation=0)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.grid(False)
    ax.set_title(t("heatmap_title_tiers" if tiers else "heatmap_title"), pad=12)
    measured_note(fig, results, _max_seeds(results), means=True, extra=tier_note)
    return fig


def radar(results: dict, methods=None, criteria=DEFAULT_CRITERIA, accuracy_by: str = "tier") -> Figure:
    """Normalised scores (1 = best among ``methods``, outward = better) on polar axes, one polygon
    per method. ``methods=None`` shows ``RADAR_DEFAULT`` (one method per family); more than
    ``RADAR_MAX`` polygons cannot be told apart, so a longer list is refused (use ``heatmap``).

    The polar axes are made with ``subplot_kw={"projection": "polar"}`` -- not the source chapter's
    ``plt.subplot(122, projection='polar')`` on top of an existing grid, which breaks the layout.
    Accuracy is scored by tier as in ``heatmap`` (``accuracy_by="minmax"``: stretched).
    """
    if methods is None:
        measured = {r["label"] for r in final_runs(results)}
        methods = [m for m in RADAR_DEFAULT if m in measured] or sorted(measured)[:RADAR_MAX]
    methods = list(methods)
    if len(methods) > RADAR_MAX:
        raise ValueError(f"methods={methods!r} has {len(methods)} entries; a radar stays readable with at most "
                         f"{RADAR_MAX} polygons (the heatmap shows every method)")
    table = metric_table(results, methods, criteria)
    criteria = _available(table, criteria)
    tiers, tier_note = _tiers(results, list(table), criteria, accuracy_by, note="tier_note_radar")
    norm = normalise({l: {c: row[c] for c in criteria} for l, row in table.items()}, accuracy_tiers=tiers)
    fig, ax = figure(width=9.5, height=6.8, subplot_kw={"projection": "polar"})
    ax.set_theta_offset(np.pi / 2)    # first criterion at the top, then clockwise:
    ax.set_theta_direction(-1)        # no label sits at the far left or right edge
    angles = np.linspace(0, 2 * np.pi, len(criteria), endpoint=False)
    closed = np.append(angles, angles[0])
    for label, row in norm.items():
        values = [row[c] if row[c] is not None else 0.0 for c in criteria]
        values.append(values[0])
        ax.plot(closed, values, linewidth=2.4, color=color(label), label=name(label), marker="o", markersize=5)
        ax.fill(closed, values, color=color(label), alpha=0.08)
    ax.set_xticks(angles, [t(f"crit_{c}") for c in criteria], fontsize=11)
    ax.set_ylim(0, 1.05)
    ax.set_yticks([0.25, 0.5, 0.75, 1.0], ["", "0.5", "", "1"], fontsize=11)
    ax.set_title(t("radar_title"), pad=18)
    fig.legend(loc="outside right upper", frameon=False, fontsize=11)
    measured_note(fig, results, _max_seeds(results), means=True, extra=tier_note)
    return fig


def accuracy_vs_params(results: dict, labels=None) -> Figure:
    """Test accuracy (mean ± std over seeds) against trainable parameters (log axis), one point
    per method in its colour, named beside the point (no legend to decode; crowded names move
    apart, joined to their points by thin lines)."""
    rows = summarize(results, by="label", metrics=["test_accuracy", "trainable_params"])
    rows = [r for r in rows if (labels is None or r["label"] in labels) and r["test_accuracy"]["mean"] is not None]
    if not rows:
        raise ValueError("no finished run with test_accuracy in these results")
    fig, ax = figure(width=11, height=6.4)
    xs = [r["trainable_params"]["mean"] for r in rows]
    ys = [r["test_accuracy"]["mean"] for r in rows]
    for r, x, y in zip(rows, xs, ys):
        acc = r["test_accuracy"]
        ax.errorbar(x, y, yerr=acc["std"] if acc["n"] > 1 else None, fmt="o", markersize=8, capsize=3,
                    color=color(r["label"]), markeredgecolor="white", alpha=0.95, zorder=3)
    ax.set_xscale("log")
    ax.set_xlim(min(xs) / 2.5, max(xs) * 6)   # room on the right for the names of the largest
    accuracy_axis(ax)
    ax.xaxis.set_major_formatter(lambda v, _: human_count(v))
    ax.set_xlabel(t("trainable_params_log"))
    ax.set_ylabel(t("test_accuracy"))
    ax.set_title(t("acc_params_title"))
    direct_labels(ax, xs, ys, [name(r["label"]) for r in rows], [color(r["label"]) for r in rows],
                  yerr=[r["test_accuracy"]["std"] if r["test_accuracy"]["n"] > 1 else 0.0 for r in rows])
    measured_note(fig, results, _max_seeds(results))
    return fig


def pairwise(results: dict, labels=None, metric: str = "accuracy", alpha: float = 0.05, correction: str | None = "holm",
             n_resamples: int = 10_000, seed: int = 0, matrix: dict | None = None) -> Figure:
    """Every two methods on the same test examples (``paired.pairwise_matrix``): cell [row, col]
    holds mean(row) − mean(col) in points, coloured by the verdict at level ``alpha`` -- row
    significantly better, within noise, or significantly worse. Methods run best first. The
    default Holm correction reads the matrix as a whole (enough resamples for it: see paired).
    ``matrix``: a ``paired.pairwise_matrix`` already computed (then the other settings are its own)."""
    m = matrix if matrix is not None else paired.pairwise_matrix(results, labels, metric, n_resamples=n_resamples,
                                                                 seed=seed, correction=correction)
    L, diff, p = len(m["labels"]), m["difference"], m["p"]
    verdict = np.where(p < alpha, np.sign(diff), 0.0)
    np.fill_diagonal(verdict, np.nan)
    text = np.array([["" if i == j else _points(diff[i, j]) for j in range(L)] for i in range(L)])
    fig, ax = figure(width=0.62 * L + 8.0, height=0.5 * L + 3.6)
    sns.heatmap(verdict, ax=ax, annot=text, fmt="", cmap=ListedColormap(VERDICT_COLOURS), vmin=-1.5, vmax=1.5,
                cbar=False, linewidths=0.6, linecolor="white",
                annot_kws={"fontsize": 12 if L <= 10 else 10.5})
    for t_ in ax.texts:   # white on the dark "better" cells, black elsewhere
        i, j = (int(v) for v in (t_.get_position()[1] - 0.5, t_.get_position()[0] - 0.5))
        t_.set_color("white" if verdict[i, j] == 1 else "black")
    shown = [f"{name(l)}  {FORMATS['accuracy'](v)}" for l, v in zip(m["labels"], m["mean"])]
    ax.set_yticklabels(shown, rotation=0, fontsize=11)
    ax.set_xticklabels([name(l) for l in m["labels"]], rotation=60, ha="right", fontsize=11)
    ax.tick_params(length=0)
    ax.grid(False)
    metric_name = t("test_accuracy") if m["metric"] == "accuracy" else t("test_f1")
    ax.set_title(t("pairwise_title", metric=metric_name), pad=12)
    handles = [Patch(color=VERDICT_COLOURS[2], label=t("pairwise_better")),
               Patch(color=VERDICT_COLOURS[1], label=t("pairwise_same", alpha=alpha)),
               Patch(color=VERDICT_COLOURS[0], label=t("pairwise_worse"))]
    fig.legend(handles=handles, loc="outside right upper", frameon=False, fontsize=12)
    how = (t("pairwise_holm", m=L * (L - 1) // 2) if m["correction"] == "holm" else t("pairwise_uncorrected"))
    measured_note(fig, results, _max_seeds(results), means=True,
                  extra=t("pairwise_note", n=m["n_examples"], r=m["n_resamples"], correction=how))
    return fig


def _points(d: float) -> str:
    """A difference in points with its sign; one that rounds to zero is "0.0" (never "-0.0")."""
    v = round(100 * d, 1)
    return f"{v:+.1f}" if v else "0.0"


def _max_seeds(results: dict) -> int:
    counts: dict[str, int] = {}
    for r in final_runs(results):
        counts[r["label"]] = counts.get(r["label"], 0) + 1
    return max(counts.values(), default=0)


__all__ = ["heatmap", "radar", "accuracy_vs_params", "pairwise", "CRITERIA", "DEFAULT_CRITERIA", "RADAR_DEFAULT"]
