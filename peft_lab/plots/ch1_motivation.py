"""Chapter 3.3.1 (motivation): how big models got, and what training them costs, by part.

Sizes come from ``peft_lab.budget.count`` -- exact architectures whose totals equal the official
checkpoints (``budget.PRESETS``, sources in ``budget/presets.py``). Two landmark models have no
preset and are drawn as published numbers, labelled "(论文数字)":

    model        parameters    released   source
    BERT-base    109,482,240   2018       HF bert-base-uncased (Devlin et al., 2019: "110M")
    GPT-2        124,439,808   2019       HF gpt2 (Radford et al., 2019)
    T5-base      222,903,552   2019       HF t5-base (Raffel et al., 2020)
    GPT-2 large  774,030,080   2019       HF gpt2-large
    GPT-3        175 B         2020       Brown et al. (2020), "Language Models are Few-Shot Learners", Table 2.1
    OPT-350m     331,196,416   2022       HF facebook/opt-350m (Zhang et al., 2022)
    BLOOMZ-560m  559,214,592   2022       HF bigscience/bloomz-560m (Muennighoff et al., 2023)
    PaLM         540 B         2022       Chowdhery et al. (2022), "PaLM: Scaling Language Modeling with Pathways"
    LLaMA 7B/65B 6.74 B / 65.3 B  2023    HF huggy-llama (Touvron et al., 2023, Table 2)
    Llama 2 13B/70B  13.0 B / 69.0 B  2023   HF meta-llama (Touvron et al., 2023b)
    Llama 3.2 1B 1.24 B        2024       HF meta-llama/Llama-3.2-1B
    Qwen2.5-3B   3.09 B        2024       HF Qwen/Qwen2.5-3B

GPT-4's size was never published; the "1.8 T" the source chapter plots is a rumour and is left out.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator

from .. import budget
from ..i18n import t
from .common import (arch_name, figure, final_runs, human_bytes, human_count, live_note, measured_note, name,
                     note, set_title, stacked_bars)
from .labels import direct_labels
from .style import PART_COLORS, color, series_color

# preset -> release year of the checkpoint (display names: common.ARCH_NAMES)
RELEASES = {
    "bert-base": 2018, "gpt2": 2019, "t5-base": 2019, "gpt2-large": 2019, "opt-350m": 2022, "bloomz-560m": 2022,
    "llama-7b": 2023, "llama-2-13b": 2023, "llama-65b": 2023, "llama-2-70b": 2023, "llama-3.2-1b": 2024,
    "qwen2.5-3b": 2024,
}
# Models without a preset: (parameters as published, year, citation) -- paper numbers, drawn as such.
PUBLISHED = {
    "GPT-3": (175e9, 2020, "Brown et al. 2020, Table 2.1"),
    "PaLM": (540e9, 2022, "Chowdhery et al. 2022"),
}
PARTS = ("weights", "gradients", "optimizer_state", "activations")


def model_growth(presets=tuple(RELEASES), published: dict | None = PUBLISHED, tiny: bool = True) -> Figure:
    """Parameters of real models against release year (log axis), one named dot each; the
    largest model released so far is traced by a line -- the growth the chapter talks about --
    while the small models released alongside stay visible below it.

    ``presets``: names in ``RELEASES`` (counted with ``budget.count``); ``published``: name ->
    (parameters, year, citation), drawn hollow and labelled as paper figures; ``tiny`` adds this
    course's TinyTransformer (``budget.count("tiny")``, language-model head included) as a
    horizontal line for scale.
    """
    rows = [(RELEASES[p], budget.count(p), arch_name(p), False) for p in presets]
    rows += [(year, n, label, True) for label, (n, year, _) in (published or {}).items()]
    if not rows:
        raise ValueError("model_growth needs at least one preset or published model")
    rows.sort(key=lambda row: (row[0], row[1]))
    fig, ax = figure(width=10, height=6.2)
    xs, sides = _dodge(rows)
    for paper in (False, True):
        pts = [(x, row) for x, row in zip(xs, rows) if row[3] == paper]
        if pts:
            ax.scatter([x for x, _ in pts], [r[1] for _, r in pts], s=70, zorder=3, linewidths=2,
                       facecolors="white" if paper else series_color(0), edgecolors=series_color(0))
    largest = {}
    for year, n, _, _ in rows:   # the largest model released up to each year: growth, never a false drop
        largest[year] = max([n] + list(largest.values()))
    years = sorted(largest)
    ax.plot(years, [largest[y] for y in years], color=series_color(0), linewidth=1.5, alpha=0.6, zorder=2,
            label=t("largest_per_year"))
    sizes = [row[1] for row in rows]
    low = min(sizes)
    if tiny:
        n_tiny = budget.count("tiny")
        ax.axhline(n_tiny, color=series_color(2), linestyle="--", linewidth=1.8,
                   label=t("name_count", name=t("tiny_model"), n=human_count(n_tiny)))
        low = min(low, n_tiny)
    ax.set_yscale("log")
    ax.set_ylim(low / 4, max(sizes) * 6)
    ax.set_xlim(years[0] - 0.6, years[-1] + 1.6)
    ax.set_xticks(range(years[0], years[-1] + 1))
    ax.yaxis.set_major_formatter(lambda v, _: human_count(v))
    ax.set_ylabel(t("params_log"))
    ax.set_xlabel(t("release_year"))
    ax.set_title(t("model_growth_title"))
    ax.legend(frameon=False, loc="upper left")
    direct_labels(ax, xs, [r[1] for r in rows],
                  [t("name_count", name=r[2], n=human_count(r[1])) + (t("paper_number") if r[3] else "") for r in rows],
                  ["#333333"] * len(rows), fontsize=10, sides=sides)
    cites = "; ".join(f"{k}: {v[2]}" for k, v in (published or {}).items())
    note(fig, "computed", t("note_budget_count") + (t("note_paper_rows", cites=cites) if cites else ""))
    return fig


def _dodge(rows, crowd: float = 1.6, shift: float = 0.14) -> tuple[list[float], list[str | None]]:
    """x positions and label sides for ``model_growth``'s (year, parameters, ...) rows, sorted by
    year and size: two models of one year within a factor ``crowd`` in size would draw one dot
    on top of the other, so the smaller moves ``shift`` years left (its label on the left) and
    the larger as far right (label on the right), e.g. LLaMA-65B and Llama 2 70B in 2023."""
    xs, sides = [float(r[0]) for r in rows], [None] * len(rows)
    for i in range(1, len(rows)):
        if rows[i][0] == rows[i - 1][0] and rows[i][1] / rows[i - 1][1] < crowd and sides[i - 1] is None:
            xs[i - 1], xs[i] = xs[i - 1] - shift, xs[i] + shift
            sides[i - 1], sides[i] = "left", "right"
    return xs, sides


def _unit(max_bytes: float) -> tuple[float, str]:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if max_bytes >= size:
            return size, unit
    return 1, "B"


def _memory_figure(names: list[str], parts: list[dict], title: str) -> Figure:
    """Stacked bars of the four parts of training memory, one bar per entry of ``parts``; more
    than seven bars lie horizontally, so every name reads level and every total at full size."""
    totals = [sum(p[k] for k in PARTS) for p in parts]
    size, unit = _unit(max(totals))
    many = len(names) > 7   # e.g. every method of the comparison
    if many:
        fig, ax = figure(width=10, height=min(7.5, 0.36 * len(names) + 2.0))
    else:
        fig, ax = figure(width=min(14.0, max(6.0, 1.9 * len(names) + 2.5)), height=5.0)
    stacked_bars(ax, names, {k: [p[k] / size for p in parts] for k in PARTS}, PART_COLORS,
                 totals_fmt=lambda v: human_bytes(v * size), horizontal=many)
    (ax.set_xlabel if many else ax.set_ylabel)(t("memory_axis", unit=unit))
    set_title(ax, title)
    ax.grid(axis="y" if many else "x", visible=False)
    return fig


def memory_breakdown(reports, names: list[str] | None = None) -> Figure:
    """Training memory by part (``budget.training_memory`` reports), e.g. full FT vs LoRA vs QLoRA.

    ``names``: one bar label per report (default: method and precision).
    """
    reports = list(reports)
    if not reports:
        raise ValueError("memory_breakdown needs at least one budget.MemoryReport")
    names = names or [f"{name(r.method)}\n{name('prec_' + r.precision)}" for r in reports]
    r0 = reports[0]
    fig = _memory_figure(names, [r.to_dict() for r in reports],
                         t("memory_breakdown_title", arch=arch_name(r0.arch), batch=r0.batch_size, seq=r0.seq_len))
    note(fig, "computed", t("note_budget_memory", optimizer=r0.optimizer))
    return fig


def measured_memory(run_results, names: list[str] | None = None, results: dict | None = None) -> Figure:
    """The same stacked bars, measured while training (``RunResult.memory``, or run records of a
    results dict with ``metrics.memory``): tensors held, and tensors autograd saved. The footer
    gives the runs' recipe (batch size and characters per example set the activations); pass
    the records' ``results`` to name the file and date too."""
    parts, labels, runs = [], [], list(run_results)
    for r in runs:
        if isinstance(r, dict):
            memory, label = (r.get("metrics") or {}).get("memory"), r["label"]
        else:
            memory, label = r.memory.to_dict(), r.method
        if memory is None:
            raise ValueError(f"run {label!r} has no memory measurement (it ran with measure=False)")
        parts.append(memory)
        labels.append(name(label))
    if not parts:
        raise ValueError("measured_memory needs at least one RunResult or run record")
    fig = _memory_figure(names or labels, parts, t("measured_memory_title"))
    meter = t("clause_sep") + t("note_memory_meter")
    if results is not None:
        measured_note(fig, results, runs=runs, extra=meter)
    else:
        live_note(fig, runs, extra=meter)
    return fig


def runs_with_memory(results: dict, labels=None) -> list[dict]:
    """The first final run of each label (in ``labels`` order) that measured memory."""
    runs = [r for r in final_runs(results) if (r.get("metrics") or {}).get("memory")]
    first = {}
    for r in runs:
        first.setdefault(r["label"], r)
    return [first[label] for label in (labels or first) if label in first]


def storage_vs_tasks(arch, configs: dict, max_tasks: int = 10, dtype: str = "bf16") -> Figure:
    """Left: bytes to serve n fine-tuned tasks, n full copies vs one base + n PEFT weight files,
    each line named at its end (lines that coincide share one name). Right: what one more task
    adds (a whole model vs one file), a dot per method on a log axis with its size written beside
    it -- bars on a log axis would make the sizes look alike. From ``budget.storage``.

    ``configs``: label -> method config (``pl.FullFineTuningConfig()`` gives the full-copy line).
    """
    n = np.arange(1, max_tasks + 1)
    serving = {label: [budget.storage(arch, c, dtype=dtype, n_tasks=int(k)).serving for k in n]
               for label, c in configs.items()}
    per_task = {label: budget.storage(arch, c, dtype=dtype).adapter for label, c in configs.items()}
    size, unit = _unit(max(max(v) for v in serving.values()))
    fig, (ax1, ax2) = figure(ncols=2, width=13, height=5.0)
    for label, sizes in serving.items():
        ax1.plot(n, np.array(sizes) / size, marker="o", linewidth=2, label=name(label), color=color(label))
    ax1.set_xlabel(t("n_tasks"))
    ax1.set_ylabel(t("storage_axis", unit=unit))
    ax1.set_xticks(n)
    ax1.set_ylim(0, max(max(v) for v in serving.values()) / size * 1.12)   # room for the top line's name
    ax1.set_xlim(0.5, max_tasks + 0.5)
    _end_labels(ax1, {label: sizes[-1] / size for label, sizes in serving.items()}, max_tasks)
    ax1.set_title(t("storage_title", arch=arch_name(arch), dtype=dtype))
    labels = list(per_task)
    x = np.arange(len(labels))
    ax2.scatter(x, [per_task[l] for l in labels], s=90, color=[color(l) for l in labels], zorder=3)
    for xi, label in zip(x, labels):
        ax2.annotate(human_bytes(per_task[label]), (xi, per_task[label]), xytext=(0, 9), textcoords="offset points",
                     ha="center", fontsize=11)
    ax2.set_yscale("log", base=2)
    ax2.yaxis.set_major_locator(LogLocator(base=32))   # ticks at 1 KiB, 32 KiB, 1 MiB, ...
    ax2.set_ylim(min(per_task.values()) / 8, max(per_task.values()) * 16)
    ax2.set_xlim(-0.6, len(labels) - 0.4)
    ax2.yaxis.set_major_formatter(lambda v, _: human_bytes(v))
    ax2.set_xticks(x, [name(l).replace("（", "\n（").replace(" (", "\n(") for l in labels], fontsize=10)
    ax2.set_ylabel(t("per_task_axis"))
    ax2.set_title(t("per_task_title"))
    ax2.grid(axis="x", visible=False)
    note(fig, "computed", t("note_budget_storage"))
    return fig


def _end_labels(ax, ends: dict, x_end: float) -> None:
    """Name each line at its right end; lines ending within 3 % of the axis height of each other
    coincide on screen, so they share one label ("LoRA、适配器（Houlsby）")."""
    top = max(ends.values()) or 1.0
    groups: list[list[str]] = []
    for label in sorted(ends, key=ends.get):
        if groups and ends[label] - ends[groups[-1][-1]] < 0.03 * top:
            groups[-1].append(label)
        else:
            groups.append([label])
    for members in groups:
        y = np.mean([ends[m] for m in members])
        ax.annotate(t("seq_sep").join(name(m) for m in members), (x_end, y), xytext=(-6, 8),
                    textcoords="offset points", ha="right", va="bottom", fontsize=11, color=color(members[0]))
