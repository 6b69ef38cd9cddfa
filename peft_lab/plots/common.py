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
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.ticker import LogFormatter, MaxNLocator, PercentFormatter

from ..budget.units import human_bytes, human_count
from ..experiments.analysis import select, summarize
from ..i18n import TEXT, t
from .style import color

__all__ = ["figure", "name", "arch_name", "note", "line_units", "set_title", "measured_note", "live_note", "recipe", "final_runs",
           "stacked_bars", "value_labels", "box", "arrow", "diagram_axes", "human_bytes", "human_count", "finite",
           "metric_bars", "metric_axis", "accuracy_axis", "percent", "pct", "wrap", "plain_log_axis"]

# Display names of the calculator's presets: a figure never shows a preset key such as "llama-7b".
ARCH_NAMES = {
    "tiny": "TinyTransformer", "bert-base": "BERT-base", "gpt2": "GPT-2", "t5-base": "T5-base",
    "gpt2-large": "GPT-2 large", "opt-350m": "OPT-350m", "bloomz-560m": "BLOOMZ-560m", "llama-7b": "LLaMA-7B",
    "llama-2-13b": "Llama 2 13B", "llama-65b": "LLaMA-65B", "llama-2-70b": "Llama 2 70B",
    "llama-3.2-1b": "Llama 3.2 1B", "qwen2.5-3b": "Qwen2.5-3B",
}


def figure(ncols: int = 1, nrows: int = 1, width: float | None = None, height: float = 4.6,
           **kwargs) -> tuple[Figure, np.ndarray | plt.Axes]:
    """A new figure with constrained layout (no overlapping labels) sized for a projector."""
    width = width or 5.6 * ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kwargs)
    return fig, axes


def name(label: str) -> str:
    """Display name of a method label or a table key; other strings pass through unchanged."""
    return t(label) if label in TEXT else str(label)


def arch_name(arch) -> str:
    """Display name of a calculator preset or ``Architecture`` ("llama-7b" -> "LLaMA-7B")."""
    key = arch if isinstance(arch, str) else getattr(arch, "name", str(arch))
    return ARCH_NAMES.get(key, key)


def note(fig: Figure, kind: str, detail: str = "") -> None:
    """The provenance line(s) at the bottom: ``kind`` is "measured", "computed" or "paper"."""
    if kind not in ("measured", "computed", "paper"):
        raise ValueError(f"kind={kind!r} is not one of ('measured', 'computed', 'paper')")
    fig.supxlabel(wrap(t(f"note_{kind}", what=detail), line_units(fig, 10)), fontsize=10, color="#555555",
                  ha="left", x=0.01)


def line_units(fig: Figure, fontsize: float, share: float = 1.0) -> int:
    """How many ``wrap`` units fit on a line as wide as ``share`` of the figure at ``fontsize`` pt:
    a CJK character is about one em (2 units), a Latin one about half an em (1 unit)."""
    return int(fig.get_figwidth() * share * 72 / fontsize * 1.9)


def set_title(ax: plt.Axes, text: str, **kwargs) -> None:
    """``ax.set_title`` wrapped to the figure's width, so a long title (English runs longer than
    Chinese) breaks into lines instead of leaving the figure; the font size stays the style's."""
    size = FontProperties(size=kwargs.get("fontsize", plt.rcParams["axes.titlesize"])).get_size_in_points()
    ax.set_title(wrap(text, line_units(ax.figure, size, share=0.75)), **kwargs)


def wrap(text: str, width: int) -> str:
    """Break ``text`` into lines of at most ``width`` units (a CJK character counts 2), at spaces
    or after CJK punctuation where possible, never inside a mathtext formula ``$...$`` (a formula
    longer than the rest of its line moves to the next line whole); a newline in ``text`` stays."""
    lines, line, used = [], "", 0
    for ch in text:
        if ch == "\n":
            lines.append(line.rstrip())
            line, used = "", 0
            continue
        w = 2 if ord(ch) > 0x2E80 else 1
        if used + w > width:
            if line.count("$") % 2:          # inside a formula: break before it, or not at all
                start = line.rfind("$")
                if start > 0:
                    lines.append(line[:start].rstrip())
                    line = line[start:]
            else:
                cut = max(line.rfind(" "), *(line.rfind(p) + 1 for p in "，；、）")) if line else -1
                if line[:max(cut, 0)].count("$") % 2:   # that break point sits inside a formula
                    cut = line[:cut].rfind("$")
                head, line = (line[:cut], line[cut:].lstrip()) if cut > width // 2 else (line, "")
                lines.append(head.rstrip())
            used = sum(2 if ord(c) > 0x2E80 else 1 for c in line)
        line += ch
        used += w
    return "\n".join(lines + [line])


def _field(run, key: str):
    """A recipe field of a run record (dict) or a ``RunResult`` (attribute), None if it has none."""
    if isinstance(run, dict):
        return run.get(key)
    try:
        return getattr(run, key)
    except AttributeError:
        return None


def _span(values) -> str:
    """[150] -> "150"; [150, 1300] -> "150、1300"; [0, 1, 2] -> "0–2" (consecutive integers)."""
    values = sorted(set(values))
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}–{values[-1]}"
    return t("seq_sep").join(f"{v:,}" if isinstance(v, int) else f"{v:g}" for v in values)


def recipe(runs) -> str:
    """What every run did, read from the runs themselves: steps, batch size, characters per example
    and seeds (a field the runs do not record is left out), so a reader whose own run differs can
    see why. Accepts run records (dicts) and ``RunResult``s."""
    runs = list(runs)
    parts = []
    for key, fields in (("recipe_steps", ("steps",)), ("recipe_batch", ("batch", "batch_size")),
                        ("recipe_chars", ("max_len",)), ("recipe_seeds", ("seed",))):
        values = [v for r in runs if (v := next((_field(r, f) for f in fields if _field(r, f) is not None), None))
                  is not None]
        if values:
            parts.append(t(key, v=_span(values)))
    return t("list_sep").join(parts)


def measured_note(fig: Figure, results: dict, n_seeds: int | None = None, means: bool = False,
                  runs=None, extra: str = "") -> None:
    """Provenance of a results dict: the file, runs, date, quick or full recipe, the recipe of the
    runs drawn (``runs``, default: the final runs; see ``recipe``) and what the error bars are
    (``means=True``: values are means over ``n_seeds`` seeds, no error bars drawn)."""
    meta = results.get("meta", {})
    what = t("note_sweep", sweep=meta.get("sweep", "?"), runs=len(results.get("runs", [])),
             date=str(meta.get("date", "?"))[:10])
    if meta.get("quick"):
        what += t("note_quick")
    shown = final_runs(results) if runs is None else list(runs)
    if shown:
        what += t("note_recipe", recipe=recipe(shown))
    if n_seeds is not None and means:
        what += t("note_means", n=n_seeds) if n_seeds > 1 else t("note_one_seed_values")
    elif n_seeds is not None:
        what += t("note_errorbars", n=n_seeds) if n_seeds > 1 else t("note_one_seed")
    note(fig, "measured", what + extra)


def live_note(fig: Figure, runs, extra: str = "") -> None:
    """Provenance of runs given directly (``RunResult``s or run records): their recipe, and
    whether they ran here and now (``RunResult``) or are stored records (dicts)."""
    runs = list(runs)
    stored = [r for r in runs if isinstance(r, dict)]
    kind = "note_records" if stored and len(stored) == len(runs) else "note_live"
    what = t(kind, n=len(runs))
    shown = [r for r in runs if isinstance(r, dict) or hasattr(r, "steps")]
    if shown and recipe(shown):
        what += t("note_recipe", recipe=recipe(shown))
    note(fig, "measured", what + extra)


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
                 totals_fmt=None, fontsize: float = 10, horizontal: bool = False) -> dict:
    """One bar per name, stacked by part (keys of ``parts``, bottom/left first); totals written at
    the end. The legend lists the parts in the order the eye meets them (top part first).

    Returns {part: BarContainer}. Part names are language-table keys.
    """
    x = np.arange(len(names))
    bottom = np.zeros(len(names))
    containers = {}
    for part, values in parts.items():
        values = np.asarray(values, dtype=float)
        style = dict(color=colors[part], label=name(part), edgecolor="white", linewidth=0.5)
        containers[part] = (ax.barh(x, values, 0.6, left=bottom, **style) if horizontal
                            else ax.bar(x, values, 0.6, bottom=bottom, **style))
        bottom += values
    (ax.set_yticks if horizontal else ax.set_xticks)(x, names)
    if totals_fmt is not None:
        for xi, total in zip(x, bottom):
            ax.annotate(totals_fmt(total), (total, xi) if horizontal else (xi, total),
                        xytext=(4, 0) if horizontal else (0, 3), textcoords="offset points",
                        ha="left" if horizontal else "center", va="center" if horizontal else "bottom",
                        fontsize=fontsize)
        (ax.set_xlim if horizontal else ax.set_ylim)(0, bottom.max() * 1.15 if bottom.max() > 0 else 1)
    if horizontal:
        ax.invert_yaxis()
        handles, labels = ax.get_legend_handles_labels()   # left to right, as the parts stack
    else:
        handles, labels = [h[::-1] for h in ax.get_legend_handles_labels()]   # top part first
    # beside the axes, not over them: no bar, total or longer English name ever hides under it
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return containers


def metric_axis(ax: plt.Axes, metric: str, axis: str = "y") -> None:
    """Tick labels in the metric's unit: accuracy and F1 as %, counts as 1.5 M, bytes as MiB."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    if "accuracy" in metric or "f1" in metric:
        target.set_major_formatter(percent)
        return
    formats = {"params": human_count, "bytes": human_bytes, "memory": human_bytes}
    fmt = next((f for key, f in formats.items() if key in metric), None)
    if fmt is not None:
        target.set_major_formatter(lambda v, _: fmt(v))


class PlainLogFormatter(LogFormatter):
    """Log-axis tick labels as plain numbers ("0.6", "2", "10"), never "6 × 10⁻¹": matplotlib's
    choice of which ticks to label (minor ticks too when the axis spans under two decades), but
    each label written as the number itself."""

    def __call__(self, x, pos=None):
        return f"{x:g}" if super().__call__(x, pos) else ""


def plain_log_axis(ax: plt.Axes, axis: str = "y") -> None:
    """Plain-number labels on a log axis, major and minor ticks alike (see ``PlainLogFormatter``)."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    target.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def percent(v: float, _pos=None) -> str:
    """A share as a tick label: 0.75 -> "75%", 0.755 -> "75.5%" (no trailing ".0")."""
    whole = abs(100 * v - round(100 * v)) < 1e-6
    return f"{100 * v:.0f}%" if whole else f"{100 * v:.1f}%"


def accuracy_axis(ax: plt.Axes, min_span: float = 0.08, top: float | None = None) -> None:
    """A y axis of accuracies in whole percent, at least ``min_span`` tall (8 points by default):
    a cut axis over a 2-point range turns seed noise into a shape. ``top`` caps the upper end."""
    low, high = ax.get_ylim()
    if high - low < min_span:
        mid = (low + high) / 2
        low, high = mid - min_span / 2, mid + min_span / 2
    if top is not None and high > top:
        low, high = low - (high - top), top
    ax.set_ylim(max(low, 0.0), high)
    # steps of 1, 2, 5 or 10 points only: a 2.5-point step puts ticks on 67.5 % that read "68 %"
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    step = np.diff(ax.get_yticks()[:2])[0] if len(ax.get_yticks()) > 1 else 0.01
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0 if step >= 0.01 - 1e-9 else 1))


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
