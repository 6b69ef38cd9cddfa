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

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator

from .. import budget
from ..i18n import t
from .common import figure, final_runs, human_bytes, human_count, name, note, stacked_bars, value_labels
from .style import PART_COLORS, color, series_color

# preset -> (display name, release year). Years are public release dates of the checkpoints.
RELEASES = {
    "bert-base": ("BERT-base", 2018), "gpt2": ("GPT-2", 2019), "t5-base": ("T5-base", 2019),
    "gpt2-large": ("GPT-2 large", 2019), "opt-350m": ("OPT-350m", 2022), "bloomz-560m": ("BLOOMZ-560m", 2022),
    "llama-7b": ("LLaMA-7B", 2023), "llama-2-13b": ("Llama 2 13B", 2023), "llama-65b": ("LLaMA-65B", 2023),
    "llama-2-70b": ("Llama 2 70B", 2023), "llama-3.2-1b": ("Llama 3.2 1B", 2024), "qwen2.5-3b": ("Qwen2.5-3B", 2024),
}
# Models without a preset: (parameters as published, year, citation) -- paper numbers, drawn as such.
PUBLISHED = {
    "GPT-3": (175e9, 2020, "Brown et al. 2020, Table 2.1"),
    "PaLM": (540e9, 2022, "Chowdhery et al. 2022"),
}
PARTS = ("weights", "gradients", "optimizer_state", "activations")


def model_growth(presets=tuple(RELEASES), published: dict | None = PUBLISHED, tiny: bool = True) -> Figure:
    """Parameters of real models by release year (log axis), one horizontal bar each.

    ``presets``: names in ``RELEASES`` (counted with ``budget.count``); ``published``: name ->
    (parameters, year, citation), drawn hatched and labelled as paper numbers; ``tiny`` adds this
    course's TinyTransformer (``budget.count("tiny")``) for scale.
    """
    rows = [(RELEASES[p][1], budget.count(p), f"{RELEASES[p][0]} ({RELEASES[p][1]})", False) for p in presets]
    rows += [(year, n, f"{label} ({year})", True) for label, (n, year, _) in (published or {}).items()]
    rows.sort(key=lambda row: (row[0], row[1]))
    if tiny:
        rows.insert(0, (0, budget.count("tiny"), t("tiny_model"), False))
    fig, ax = figure(width=9.5, height=0.42 * len(rows) + 1.8)
    y = np.arange(len(rows))
    sizes = [row[1] for row in rows]
    bars = ax.barh(y, sizes, color=[series_color(2) if i == 0 and tiny else series_color(0) for i in range(len(rows))],
                   height=0.65)
    for bar, row in zip(bars, rows):
        if row[3]:
            bar.set_facecolor("white")
            bar.set_edgecolor(series_color(0))
            bar.set_hatch("//")
    value_labels(ax, bars, [human_count(n) + (t("paper_number") if paper else "") for _, n, _, paper in rows],
                 horizontal=True)
    ax.set_yticks(y, [row[2] for row in rows])
    ax.invert_yaxis()   # oldest at the top: growth reads downwards
    ax.set_xscale("log")
    ax.set_xlim(min(sizes) / 2, max(sizes) * 15)
    ax.xaxis.set_major_formatter(lambda v, _: human_count(v))
    ax.set_xlabel(t("params_log"))
    ax.set_title(t("model_growth_title"))
    ax.grid(axis="y", visible=False)
    cites = "; ".join(f"{k}: {v[2]}" for k, v in (published or {}).items())
    note(fig, "computed", t("note_budget_count") + (t("note_paper_rows", cites=cites) if cites else ""))
    return fig


def _unit(max_bytes: float) -> tuple[float, str]:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if max_bytes >= size:
            return size, unit
    return 1, "B"


def _memory_figure(names: list[str], parts: list[dict], title: str) -> Figure:
    """Stacked bars of the four parts of training memory, one bar per entry of ``parts``."""
    totals = [sum(p[k] for k in PARTS) for p in parts]
    size, unit = _unit(max(totals))
    many = len(names) > 7   # e.g. every method of the comparison: slanted names, smaller totals
    fig, ax = figure(width=min(14.0, max(6.0, 1.9 * len(names) + 2.5)), height=5.6 if many else 5.0)
    stacked_bars(ax, names, {k: [p[k] / size for p in parts] for k in PARTS}, PART_COLORS,
                 totals_fmt=lambda v: human_bytes(v * size), fontsize=8 if many else 10)
    if many:
        plt.setp(ax.get_xticklabels(), rotation=40, ha="right", rotation_mode="anchor")
    ax.set_ylabel(t("memory_axis", unit=unit))
    ax.set_title(title)
    ax.grid(axis="x", visible=False)
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
                         t("memory_breakdown_title", arch=r0.arch, batch=r0.batch_size, seq=r0.seq_len))
    note(fig, "computed", t("note_budget_memory", optimizer=r0.optimizer))
    return fig


def measured_memory(run_results, names: list[str] | None = None) -> Figure:
    """The same stacked bars, measured while training (``RunResult.memory``, or run records of a
    results dict with ``metrics.memory``): tensors held, and tensors autograd saved."""
    parts, labels = [], []
    for r in run_results:
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
    note(fig, "measured", t("note_memory_meter"))
    return fig


def runs_with_memory(results: dict, labels=None) -> list[dict]:
    """The first final run of each label (in ``labels`` order) that measured memory."""
    runs = [r for r in final_runs(results) if (r.get("metrics") or {}).get("memory")]
    first = {}
    for r in runs:
        first.setdefault(r["label"], r)
    return [first[label] for label in (labels or first) if label in first]


def storage_vs_tasks(arch, configs: dict, max_tasks: int = 10, dtype: str = "bf16") -> Figure:
    """Left: bytes to serve n fine-tuned tasks, n full copies vs one base + n adapters. Right: what
    one more task adds (a whole model vs one adapter, log axis). From ``budget.storage``.

    ``configs``: label -> method config (``pl.FullFineTuningConfig()`` gives the full-copy line).
    """
    n = np.arange(1, max_tasks + 1)
    serving = {label: [budget.storage(arch, c, dtype=dtype, n_tasks=int(k)).serving for k in n]
               for label, c in configs.items()}
    per_task = {label: budget.storage(arch, c, dtype=dtype).adapter for label, c in configs.items()}
    size, unit = _unit(max(max(v) for v in serving.values()))
    fig, (ax1, ax2) = figure(ncols=2, width=12.5, height=4.8)
    for label, sizes in serving.items():
        ax1.plot(n, np.array(sizes) / size, marker="o", linewidth=2, label=name(label), color=color(label))
    ax1.set_xlabel(t("n_tasks"))
    ax1.set_ylabel(t("storage_axis", unit=unit))
    ax1.set_xticks(n)
    ax1.set_ylim(bottom=0)
    ax1.legend(frameon=False)
    ax1.set_title(t("storage_title", arch=budget.get(arch).name, dtype=dtype))
    labels = list(per_task)
    bars = ax2.bar(np.arange(len(labels)), [per_task[l] for l in labels], 0.6, color=[color(l) for l in labels])
    value_labels(ax2, bars, [human_bytes(per_task[l]) for l in labels])
    ax2.set_yscale("log", base=2)
    ax2.yaxis.set_major_locator(LogLocator(base=32))   # ticks at 1 KiB, 32 KiB, 1 MiB, ...
    ax2.set_ylim(top=max(per_task.values()) * 8)
    ax2.yaxis.set_major_formatter(lambda v, _: human_bytes(v))
    ax2.set_xticks(np.arange(len(labels)), [name(l) for l in labels])
    ax2.set_title(t("per_task_title"))
    ax2.grid(axis="x", visible=False)
    note(fig, "computed", t("note_budget_storage"))
    return fig
