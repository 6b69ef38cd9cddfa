"""Helpers every chapter's figures share: layout, labels, provenance notes, bars, error bars, boxes.

Provenance is part of every figure: ``note(fig, "measured" | "computed" | "paper", detail)``
writes one line under the axes, so a reader can always tell a measurement on this machine from
arithmetic (``peft_lab.budget``) and from a number quoted from a paper.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.ticker import PercentFormatter

from ..budget.units import human_bytes, human_count
from ..experiments.analysis import select, series, summarize, value
from ..i18n import TEXT, t
from .style import color

__all__ = ["figure", "name", "note", "measured_note", "final_runs", "stacked_bars", "value_labels",
           "error_line", "series_lines", "box", "arrow", "diagram_axes", "human_bytes", "human_count", "finite",
           "log2_axis", "metric_bars", "metric_axis", "pct", "wrap", "sweep_figure"]


def figure(ncols: int = 1, nrows: int = 1, width: float | None = None, height: float = 4.6,
           **kwargs) -> tuple[Figure, np.ndarray | plt.Axes]:
    """A new figure with constrained layout (no overlapping labels) sized for a projector."""
    width = width or 5.6 * ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kwargs)
    return fig, axes


def name(label: str) -> str:
    """Display name of a method label or a table key; other strings pass through unchanged."""
    return t(label) if label in TEXT else str(label)


def note(fig: Figure, kind: str, detail: str = "") -> None:
    """The provenance line(s) at the bottom: ``kind`` is "measured", "computed" or "paper"."""
    if kind not in ("measured", "computed", "paper"):
        raise ValueError(f"kind={kind!r} is not one of ('measured', 'computed', 'paper')")
    width = int(fig.get_figwidth() * 72 / 10 * 1.9)   # 10 pt text: ~1.9 Latin characters per CJK width
    fig.supxlabel(wrap(t(f"note_{kind}", what=detail), width), fontsize=10, color="#555555", ha="left", x=0.01)


def wrap(text: str, width: int) -> str:
    """Break ``text`` into lines of at most ``width`` units (a CJK character counts 2), at spaces
    or after CJK punctuation where possible."""
    lines, line, used = [], "", 0
    for ch in text:
        w = 2 if ord(ch) > 0x2E80 else 1
        if used + w > width:
            cut = max(line.rfind(" "), *(line.rfind(p) + 1 for p in "，；、）")) if line else -1
            head, line = (line[:cut], line[cut:].lstrip()) if cut > width // 2 else (line, "")
            lines.append(head.rstrip())
            used = sum(2 if ord(c) > 0x2E80 else 1 for c in line)
        line += ch
        used += w
    return "\n".join(lines + [line])


def measured_note(fig: Figure, results: dict, n_seeds: int | None = None, means: bool = False) -> None:
    """Provenance of a results dict: sweep, runs, quick or full recipe, date, and what the error
    bars are (``means=True``: values are means over ``n_seeds`` seeds, no error bars drawn)."""
    meta = results.get("meta", {})
    what = t("note_sweep", sweep=meta.get("sweep", "?"), runs=len(results.get("runs", [])),
             date=str(meta.get("date", "?"))[:10])
    if meta.get("quick"):
        what += t("note_quick")
    if n_seeds is not None and means:
        what += t("note_means", n=n_seeds) if n_seeds > 1 else t("note_one_seed_values")
    elif n_seeds is not None:
        what += t("note_errorbars", n=n_seeds) if n_seeds > 1 else t("note_one_seed")
    note(fig, "measured", what)


def final_runs(results: dict, where: dict | None = None) -> list[dict]:
    """The final-stage runs that finished (diverged ones have no metrics)."""
    return select(results, "final", where)


def finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def value_labels(ax: plt.Axes, bars, texts, horizontal: bool = False, fontsize: float = 10, ends=None) -> None:
    """Write ``texts`` at the end of each bar (outside, so they never cover the bar); ``ends``
    moves them further out (e.g. to the top of each error bar)."""
    ends = list(ends) if ends is not None else [None] * len(texts)
    for bar, text, end in zip(bars, texts, ends):
        if horizontal:
            x = bar.get_x() + bar.get_width() if end is None else end
            ax.annotate(text, (x, bar.get_y() + bar.get_height() / 2),
                        xytext=(4, 0), textcoords="offset points", va="center", fontsize=fontsize)
        else:
            y = bar.get_y() + bar.get_height() if end is None else end
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, y),
                        xytext=(0, 3), textcoords="offset points", ha="center", fontsize=fontsize)


def stacked_bars(ax: plt.Axes, names: list[str], parts: dict[str, list[float]], colors: dict[str, str],
                 totals_fmt=None, fontsize: float = 10) -> dict:
    """One bar per name, stacked by part (keys of ``parts``, bottom first); totals written on top.

    Returns {part: BarContainer}. Part names are language-table keys.
    """
    x = np.arange(len(names))
    bottom = np.zeros(len(names))
    containers = {}
    for part, values in parts.items():
        values = np.asarray(values, dtype=float)
        containers[part] = ax.bar(x, values, 0.6, bottom=bottom, color=colors[part], label=name(part),
                                  edgecolor="white", linewidth=0.5)
        bottom += values
    ax.set_xticks(x, names)
    if totals_fmt is not None:
        for xi, total in zip(x, bottom):
            ax.annotate(totals_fmt(total), (xi, total), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=fontsize)
        ax.set_ylim(0, bottom.max() * 1.15 if bottom.max() > 0 else 1)
    ax.legend(loc="upper right", frameon=False)
    return containers


def error_line(ax: plt.Axes, points, label: str, line_color: str, **kwargs):
    """Mean ± std against x from ``series`` points ``[(x, mean, std, n), ...]`` (x None skipped)."""
    pts = [p for p in points if p[0] is not None and finite(p[1])]
    xs = [p[0] for p in pts]
    means = [p[1] for p in pts]
    stds = [p[2] if p[3] > 1 else 0.0 for p in pts]
    kwargs = {"marker": "o", "capsize": 4, "linewidth": 2, "markersize": 6} | kwargs
    return ax.errorbar(xs, means, yerr=stds, label=label, color=line_color, **kwargs)


def series_lines(ax: plt.Axes, results: dict, x: str, y: str = "test_accuracy", by: str = "label",
                 colors: dict | None = None, names: dict | None = None, where: dict | None = None,
                 order=None) -> int:
    """One error-bar line per group of ``series(results, x, y, by)``; returns the largest n (seeds)."""
    lines = series(results, x=x, y=y, by=by, where=where)
    n_max = 0
    for group in order or lines:
        if group not in lines:
            continue
        pts = lines[group]
        n_max = max([n_max] + [p[3] for p in pts])
        label = (names or {}).get(group, name(group))
        error_line(ax, pts, label, (colors or {}).get(group, color(group)))
    metric_axis(ax, y)
    return n_max


def log2_axis(ax: plt.Axes, values, axis: str = "x") -> None:
    """A log-2 axis with a tick at every value (ranks, bottlenecks, lengths are powers of two)."""
    values = sorted({v for v in values if v})
    pad = (values[0] / 1.35, values[-1] * 1.35)   # keep the end points off the frame
    if axis == "x":
        ax.set_xscale("log", base=2)
        ax.set_xticks(values, [str(v) for v in values])
        ax.set_xlim(*pad)
        ax.minorticks_off()
    else:
        ax.set_yscale("log", base=2)
        ax.set_yticks(values, [str(v) for v in values])
        ax.set_ylim(*pad)


def metric_axis(ax: plt.Axes, metric: str, axis: str = "y") -> None:
    """Tick labels in the metric's unit: accuracy and F1 as %, counts as 1.5 M, bytes as MiB."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    if "accuracy" in metric or "f1" in metric:
        target.set_major_formatter(PercentFormatter(1.0))   # picks the decimals the tick step needs
        return
    formats = {"params": human_count, "bytes": human_bytes, "memory": human_bytes}
    fmt = next((f for key, f in formats.items() if key in metric), None)
    if fmt is not None:
        target.set_major_formatter(lambda v, _: fmt(v))


def box(ax: plt.Axes, x: float, y: float, w: float, h: float, text: str = "", face: str = "white",
        edge: str = "#333333", fontsize: float = 11, text_color: str = "black", **kwargs) -> FancyBboxPatch:
    """A rounded box with centred text, in data coordinates (diagrams use 0..1 axes)."""
    patch = FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.005,rounding_size=0.015", facecolor=face,
                           edgecolor=edge, linewidth=1.2, **kwargs)
    ax.add_patch(patch)
    if text:
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, color=text_color)
    return patch


def arrow(ax: plt.Axes, start, end, arrow_color: str = "#333333", **kwargs) -> FancyArrowPatch:
    patch = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=arrow_color,
                            linewidth=1.3, shrinkA=0, shrinkB=0, **kwargs)
    ax.add_patch(patch)
    return patch


def diagram_axes(ax: plt.Axes) -> None:
    """An empty 0..1 canvas for a diagram."""
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_axis_off()


def metric_bars(ax: plt.Axes, results: dict, labels, metric: str, fmt=None) -> list[str]:
    """Mean ± std of ``metric`` per label (final runs), one bar each in the method's colour.

    Returns the labels drawn (those with a measured value); ``fmt`` writes the value on each bar.
    """
    rows = {row["label"]: row for row in summarize(results, by="label", metrics=[metric])}
    drawn = [l for l in labels if l in rows and rows[l][metric]["mean"] is not None]
    means = [rows[l][metric]["mean"] for l in drawn]
    stds = [rows[l][metric]["std"] for l in drawn]
    bars = ax.bar(np.arange(len(drawn)), means, 0.6, yerr=stds, capsize=4, color=[color(l) for l in drawn])
    if fmt is not None:
        value_labels(ax, bars, [fmt(m) for m in means], ends=[m + s for m, s in zip(means, stds)])
    ax.set_xticks(np.arange(len(drawn)), [name(l) for l in drawn])
    ax.set_ylabel(name(metric))
    metric_axis(ax, metric)
    ax.grid(axis="x", visible=False)
    return drawn


def pct(share: float) -> str:
    """0.1875 -> '18.8%', 1.0 -> '100%' (three significant digits, never exponent notation)."""
    return f"{100 * share:.3g}%" if 100 * share >= 0.01 else f"{100 * share:.2e}%"


def sweep_figure(results: dict, x: str, x_key: str, metrics=("test_accuracy", "trainable_params"), titles=(),
                 **series_kwargs) -> tuple[Figure, np.ndarray]:
    """One panel per metric against a power-of-two sweep variable ``x`` (a log-2 axis labelled
    ``t(x_key)``), one mean ± std line per group (``series_lines``), legend in the first panel,
    provenance underneath. The rank, bottleneck and prefix-length sweeps are all drawn this way."""
    runs = final_runs(results)
    if not runs:
        raise ValueError("these results hold no finished runs")
    xs = sorted({v for r in runs if (v := value(r, x)) is not None})
    fig, axes = figure(ncols=len(metrics), width=6.25 * len(metrics), height=4.8)
    n = 0
    for ax, metric, title in zip(axes, metrics, titles):
        n = max(n, series_lines(ax, results, x, metric, **series_kwargs))
        log2_axis(ax, xs)
        ax.set_xlabel(t(x_key))
        ax.set_ylabel(name(metric))
        ax.set_title(t(title))
    axes[0].legend(frameon=False)
    measured_note(fig, results, n)
    return fig, axes
