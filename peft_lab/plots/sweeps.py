"""Measured sweeps drawn honestly: one line per group against a power-of-two setting (rank r,
bottleneck m, virtual tokens L), with markers only where something was measured, a dotted line
across the values a group skipped, and the reader's current setting marked on the curve.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..experiments.analysis import series, value
from ..i18n import t
from .common import accuracy_axis, figure, final_runs, finite, measured_note, metric_axis, name
from .labels import axes_points, text_width
from .style import color

__all__ = ["error_line", "series_lines", "log2_axis", "mark_setting", "sweep_figure", "MARKERS", "LINESTYLES"]

# Per sweep panel: a marker and a line style per group, so lines differ in more than a shade.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<")
LINESTYLES = ("-", "--", "-.", (0, (5, 1, 1, 1, 1, 1)))
RING = 8.5   # points: radius of the ring around a marked point (markersize 15, edge 1.8)


def error_line(ax: plt.Axes, points, label: str, line_color: str, grid=None, marker: str = "o",
               linestyle="-", **kwargs):
    """Mean ± std against x from ``series`` points ``[(x, mean, std, n), ...]`` (x None skipped).

    With ``grid`` (every x value the sweep measured for any group), only what was measured is
    drawn as measured: markers with error bars at the points, a line between points adjacent on
    the grid, and a thin dotted line across x values this group skipped -- so a line never
    suggests a measurement that does not exist. Returns the error-bar container."""
    pts = [p for p in points if p[0] is not None and finite(p[1])]
    xs = [p[0] for p in pts]
    means = [p[1] for p in pts]
    stds = [p[2] if p[3] > 1 else 0.0 for p in pts]
    if grid is None:
        kwargs = {"marker": marker, "capsize": 4, "linewidth": 2, "markersize": 6} | kwargs
        return ax.errorbar(xs, means, yerr=stds, label=label, color=line_color, **kwargs)
    container = ax.errorbar(xs, means, yerr=stds, color=line_color, linestyle="none", marker=marker, capsize=4,
                            markersize=7, elinewidth=1.5, zorder=3, **kwargs)
    for (x0, y0), (x1, y1) in zip(zip(xs, means), zip(xs[1:], means[1:])):
        gap = any(x0 < g < x1 for g in grid)
        ax.plot([x0, x1], [y0, y1], color=line_color, linestyle=":" if gap else linestyle,
                linewidth=1.4 if gap else 2, zorder=2)
    ax.plot([], [], color=line_color, marker=marker, linestyle=linestyle, linewidth=2, label=label)   # legend
    return container


def series_lines(ax: plt.Axes, results: dict, x: str, y: str = "test_accuracy", by: str = "label",
                 colors: dict | None = None, names: dict | None = None, where: dict | None = None,
                 order=None, grid=None) -> int:
    """One error-bar line per group of ``series(results, x, y, by)``; returns the largest n (seeds).
    ``grid``: draw measured points only, dotted across skipped x values (see ``error_line``)."""
    lines = series(results, x=x, y=y, by=by, where=where)
    n_max = 0
    groups = [g for g in (order or lines) if g in lines]
    gaps = False
    for i, group in enumerate(groups):
        pts = lines[group]
        n_max = max([n_max] + [p[3] for p in pts])
        label = (names or {}).get(group, name(group))
        style = {} if grid is None else {"marker": MARKERS[i % len(MARKERS)],
                                         "linestyle": LINESTYLES[i % len(LINESTYLES)]}
        error_line(ax, pts, label, (colors or {}).get(group, color(group)), grid=grid, **style)
        measured = [p[0] for p in pts]
        gaps = gaps or (grid is not None and any(measured[0] < g < measured[-1] and g not in measured for g in grid))
    if gaps:
        ax.plot([], [], color="#777777", linestyle=":", linewidth=1.4, label=t("gap_dotted"))
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


def mark_setting(ax: plt.Axes, x: float, symbol: str, label: str | None = None) -> None:
    """The reader's current setting (a slider's value) on a measured sweep: a vertical line at
    ``x`` labelled "当前 symbol = x", and a ring on each measured point at exactly ``x``.

    ``label``: other words for the line ("数据支持的最小 m = {value}"; ``{value}`` is filled in).
    The label sits in a top or bottom corner beside the line, on a white box, in the first of the
    four places that covers no measured point, error bar or ring. Call it once the axes' scales
    and limits are final."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not x > 0:
        raise ValueError(f"mark={x!r} must be a positive number (the setting to show on the sweep)")
    if label is not None and not isinstance(label, str):
        raise TypeError(f"mark_label={label!r} must be a string (the words shown beside the line)")
    low, high = ax.get_xlim()
    if not low < x < high:   # a setting outside the measured range: widen the axis so it shows
        ax.set_xlim(min(low, x / 1.35), max(high, x * 1.35))
    ax.axvline(x, color="#222222", linewidth=1.6, linestyle="-", alpha=0.75, zorder=1)
    text = (t("mark_setting", symbol=symbol, value=f"{x:g}") if label is None
            else label.replace("{value}", f"{x:g}"))
    rings = []
    for _, xs, ys in _measured(ax):
        for xi, yi in zip(xs, ys):
            if xi == x:
                rings.append(yi)
                ax.plot([x], [yi], "o", markersize=15, markerfacecolor="none", markeredgecolor="#222222",
                        markeredgewidth=1.8, zorder=4)
    (dx, ha), (y, va, dy) = _free_corner(ax, x, text, 11, rings)
    ax.annotate(text, (x, y), xycoords=("data", "axes fraction"), xytext=(dx, dy), textcoords="offset points",
                ha=ha, va=va, fontsize=11, color="#222222", zorder=5,
                bbox=dict(facecolor="white", edgecolor="#bbbbbb", alpha=0.92, boxstyle="round,pad=0.25"))


def _measured(ax: plt.Axes):
    """(error-bar artists, xs, ys) of every error-bar container on ``ax`` that holds points."""
    for container in ax.containers:
        data = getattr(container, "lines", None)
        if data and data[0] is not None:
            yield (data, *data[0].get_data())


def _occupied(ax: plt.Axes, x: float, rings) -> list[tuple[float, float, float, float]]:
    """Boxes (x0, y0, x1, y1, in points from the axes' lower left) that a label must not cover:
    every measured marker, every error bar and every ring of the current setting (``rings``: the
    y values of the rings, all at x)."""
    W, H = axes_points(ax)
    to_pts = lambda x, y: (ax.transScale + ax.transLimits).transform((x, y)) * [W, H]
    boxes = [(px - RING, py - RING, px + RING, py + RING) for px, py in (to_pts(x, y) for y in rings)]
    for data, xs, ys in _measured(ax):
        for xi, yi in zip(xs, ys):
            px, py = to_pts(xi, yi)
            boxes.append((px - 6, py - 6, px + 6, py + 6))
        for bars in data[2] if len(data) > 2 else ():
            for seg in bars.get_segments():
                (px0, py0), (px1, py1) = to_pts(*seg[0]), to_pts(*seg[-1])
                boxes.append((min(px0, px1) - 4, min(py0, py1), max(px0, px1) + 4, max(py0, py1)))
    return boxes


def _free_corner(ax: plt.Axes, x: float, text: str, fontsize: float, rings) -> tuple:
    """Where the setting's label covers nothing: ((dx, ha), (y, va, dy)) for ``annotate``, trying
    top right of the line, top left, bottom right, bottom left (the first clear one; else the
    one covering the fewest things)."""
    W, H = axes_points(ax)
    px = (ax.transScale + ax.transLimits).transform((x, 1.0))[0] * W
    w, h = text_width(text, fontsize) + 8, 1.35 * fontsize + 6
    occupied = _occupied(ax, x, rings)
    best, fewest = None, None
    for top in (True, False):
        for right in (True, False):
            x0 = px + RING + 3 if right else px - RING - 3 - w   # clear of the rings on the line
            y0 = H - 5 - h if top else 5
            box = (x0, y0, x0 + w, y0 + h)
            if box[0] < 0 or box[2] > W:
                continue
            hits = sum(not (box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3]) for b in occupied)
            choice = ((RING + 3, "left") if right else (-RING - 3, "right"), (1.0, "top", -5) if top else (0.0, "bottom", 5))
            if fewest is None or hits < fewest:
                best, fewest = choice, hits
            if hits == 0:
                return best
    return best or ((RING + 3, "left"), (1.0, "top", -5))


def sweep_figure(results: dict, x: str, x_key: str, metrics=("test_accuracy", "trainable_params"), titles=(),
                 mark: float | None = None, mark_symbol: str = "", mark_label: str | None = None,
                 **series_kwargs) -> tuple[Figure, np.ndarray]:
    """One panel per metric against a power-of-two sweep variable ``x`` (a log-2 axis labelled
    ``t(x_key)``), one line per group drawing only what was measured (``series_lines`` with the
    sweep's grid), legend in the first panel, provenance and recipe underneath. The rank,
    bottleneck and prefix-length sweeps are all drawn this way; ``mark`` shows a setting on them
    (``mark_label``: other words for it, see ``mark_setting``)."""
    runs = final_runs(results)
    if not runs:
        raise ValueError("these results hold no finished runs")
    xs = sorted({v for r in runs if (v := value(r, x)) is not None})
    fig, axes = figure(ncols=len(metrics), width=6.25 * len(metrics), height=4.8)
    n = 0
    for ax, metric, title in zip(axes, metrics, titles):
        n = max(n, series_lines(ax, results, x, metric, grid=xs, **series_kwargs))
        log2_axis(ax, xs)
        if "accuracy" in metric or "f1" in metric:
            accuracy_axis(ax)
        ax.set_xlabel(t("log_axis", label=t(x_key)))
        ax.set_ylabel(name(metric))
        ax.set_title(t(title))
        if mark is not None:
            mark_setting(ax, mark, mark_symbol, mark_label)
    axes[0].legend(frameon=False, fontsize=10)
    measured_note(fig, results, n)
    return fig, axes
