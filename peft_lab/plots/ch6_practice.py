"""Chapter 3.3.6 (practice): the failure modes as loss curves, how much data each approach needs,
and the learning-rate search behind every method's rate (all measured).

The chapter's troubleshooting table (学习率过高, rank 太小, ...) is sound advice but only
asserted; the notebook reproduces each failure on the tiny model and ``training_curves`` shows
its symptom: a too-high rate diverges, a non-zero B at init starts from a worse loss,
forgetting to freeze trains everything, a too-small rank plateaus.
"""
from __future__ import annotations

import math

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..experiments.analysis import lr_search_table
from ..i18n import t
from .common import (accuracy_axis, figure, finite, live_note, measured_note, metric_axis, name, note,
                     plain_log_axis, wrap)
from .sweeps import LINESTYLES, MARKERS, series_lines
from .style import FAMILIES, PALETTE, color, family, series_color


def loss_points(run) -> tuple[list[float], list[float]]:
    """(steps, losses) of a ``RunResult``, a run record (``details.loss_curve``), a list of
    ``{"step", "loss"}`` dicts, a list of (step, loss) pairs, or a plain list of losses."""
    if hasattr(run, "history"):
        run = run.history
    elif isinstance(run, dict):
        run = (run.get("details") or {}).get("loss_curve") or []
    run = list(run)
    if not run:
        return [], []
    if isinstance(run[0], dict):
        return [h["step"] for h in run], [h["loss"] for h in run]
    if isinstance(run[0], (list, tuple)):
        return [p[0] for p in run], [p[1] for p in run]
    return list(range(len(run))), [float(v) for v in run]


def training_curves(runs, labels=None, logy: bool | None = None, title_key: str = "curves_title",
                    results: dict | None = None) -> Figure:
    """Training loss against step, one line per run (see ``loss_points`` for what a run may be).

    ``labels``: one per run, a language-table key (a method or a failure mode such as
    ``"fail_lr_high"``) or any text. A run whose loss stopped being finite, or whose record says
    it diverged, ends in a cross marked "发散". ``logy=None`` picks a log axis when the losses
    span more than a factor 20. The footer says where the runs come from, read from the runs:
    trained just now (``RunResult``s) or stored records (dicts; pass their ``results`` to name
    the file and date), with their steps, characters per example and seeds.
    """
    runs = list(runs)
    labels = list(labels) if labels is not None else [_default_label(r) for r in runs]
    if len(labels) != len(runs):
        raise ValueError(f"{len(runs)} runs but {len(labels)} labels")
    fig, ax = figure(width=9, height=5.0)
    finite_losses = []
    for i, (run, label) in enumerate(zip(runs, labels)):
        steps, losses = loss_points(run)
        ok = [j for j, v in enumerate(losses) if finite(v)]
        line_color = color(label) if label in PALETTE else series_color(i)
        xs, ys = [steps[j] for j in ok], [losses[j] for j in ok]
        finite_losses += ys
        ax.plot(xs, ys, linewidth=2, color=line_color, label=name(label))
        diverged = len(ok) < len(losses) or (isinstance(run, dict) and run.get("status") == "diverged")
        if diverged and xs:
            ax.plot(xs[-1], ys[-1], "x", color=line_color, markersize=12, markeredgewidth=3)
            ax.annotate(t("diverged"), (xs[-1], ys[-1]), xytext=(6, 4), textcoords="offset points",
                        color=line_color, fontsize=11)
    if not finite_losses:
        raise ValueError("no finite loss in these runs")
    low, high = min(finite_losses), max(finite_losses)
    log = bool(logy or (logy is None and low > 0 and high / low > 20))
    if log:
        ax.set_yscale("log")
        plain_log_axis(ax)   # "0.6", never "6 × 10⁻¹" on the minor ticks of a narrow range
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # steps are whole numbers
    ax.set_xlabel(t("step"))
    ax.set_ylabel(t("loss_log" if log else "loss"))
    ax.set_title(t(title_key))
    ax.legend(frameon=False)
    _provenance(fig, runs, results)
    return fig


def _provenance(fig: Figure, runs: list, results: dict | None) -> None:
    """Where the curves come from, read from the input itself (never assumed)."""
    if results is not None:
        measured_note(fig, results, runs=[r for r in runs if isinstance(r, dict)] or None)
    elif all(isinstance(r, dict) or hasattr(r, "history") for r in runs):
        live_note(fig, runs)
    else:
        note(fig, "measured", t("note_given_values"))


def _default_label(run) -> str:
    if hasattr(run, "method"):
        return run.method
    if isinstance(run, dict) and "label" in run:
        return run["label"]
    return "loss"


def train_size_sweep(results: dict, metric: str = "test_accuracy") -> Figure:
    """Accuracy against the number of training examples (log axis), full fine-tuning vs LoRA vs
    head only, mean ± std over seeds (``train_size`` sweep)."""
    sizes = sorted({r.get("train_size") for r in results["runs"] if r.get("train_size")})
    if not sizes:
        raise ValueError("these results have no runs with a train_size")
    fig, ax = figure(width=8.5, height=5.0)
    n = series_lines(ax, results, "train_size", metric)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
    ax.set_xlim(sizes[0] / 1.5, sizes[-1] * 1.5)
    ax.minorticks_off()
    ax.set_xlabel(t("train_size_log"))
    ax.set_ylabel(name(metric))
    if "accuracy" in metric or "f1" in metric:
        accuracy_axis(ax)
    ax.set_title(t("train_size_title"))
    ax.legend(frameon=False)
    measured_note(fig, results, n)
    return fig


def lr_search(results: dict, groups=None) -> Figure:
    """Validation score against learning rate (log axis), one small panel per method family (all
    on one y scale), the chosen rate circled; a choice at the edge of the grid is flagged (a
    wider grid might do better). A run from random initialisation is dashed with hollow markers."""
    rows = [r for r in lr_search_table(results) if groups is None or r["group"] in groups]
    if not rows:
        raise ValueError("these results hold no learning-rate search (stage 'lr_search')")
    panels: dict[str, list[dict]] = {}
    for row in rows:
        panels.setdefault(family(row["group"].split(" ")[0]), []).append(row)
    order = [f for f in (*FAMILIES, "family_other") if f in panels]
    ncols = min(2, len(order))
    nrows = -(-len(order) // ncols)
    fig, axes = figure(ncols=ncols, nrows=nrows, width=max(8.5, 6.4 * ncols), height=3.9 * nrows + 0.9, sharey=True,
                       sharex=True, squeeze=False)
    for ax, fam in zip(axes.ravel(), order):
        for i, row in enumerate(panels[fam]):
            _lr_line(ax, row, i)
        ax.set_xscale("log")
        ax.set_title(t(fam), fontsize=13)
        ax.legend(frameon=False, fontsize=10, loc="lower left")
        metric_axis(ax, rows[0]["metric"])
    for ax in axes.ravel()[len(order):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(t("learning_rate_log"))
    for ax in axes[:, 0]:
        ax.set_ylabel(name(rows[0]["metric"]))
    edge = [_group_label(r["group"]) for r in rows if r.get("at_edge")]
    flagged = ("\n" + wrap(t("lr_edge", names=t("seq_sep").join(edge)), 110)) if edge else ""
    fig.suptitle(t("lr_title") + flagged, fontsize=14)
    diverged = any(v is None for r in rows for v in r["scores"].values())
    measured_note(fig, results, runs=[r for r in results["runs"] if r.get("stage") == "lr_search"],
                  extra=t("lr_gaps") if diverged else "")
    return fig


def _group_label(group: str) -> str:
    """Display name of an lr-search group: "full scratch" -> "全参数微调（随机初始化）"."""
    label, *rest = group.split(" ")
    shown = name(label)
    if "scratch" in rest:
        shown = t("init_scratch", name=shown)
    rest = [p for p in rest if p != "scratch"]
    return " ".join([shown] + [name(p) for p in rest])


def _lr_line(ax, row: dict, i: int) -> None:
    label = row["group"].split(" ")[0]
    scratch = "scratch" in row["group"].split(" ")[1:]
    line_color = color(label) if label in PALETTE else series_color(i)
    lrs = sorted(row["scores"])
    vals = [row["scores"][lr] if row["scores"][lr] is not None else math.nan for lr in lrs]
    marker = MARKERS[i % len(MARKERS)]
    ax.plot(lrs, vals, marker=marker, linewidth=1.8, markersize=6, color=line_color, label=_group_label(row["group"]),
            linestyle="--" if scratch else LINESTYLES[(i // len(MARKERS)) % len(LINESTYLES)],
            markerfacecolor="white" if scratch else line_color)
    if row.get("chosen") in row["scores"] and row["scores"][row["chosen"]] is not None:
        ax.plot(row["chosen"], row["scores"][row["chosen"]], "o", markersize=14, markerfacecolor="none",
                markeredgecolor=line_color, markeredgewidth=2)


__all__ = ["loss_points", "training_curves", "train_size_sweep", "lr_search"]
