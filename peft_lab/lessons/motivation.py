"""01_motivation: what full fine-tuning costs against real GPU cards, and what PEFT saves, in numbers.

Every number comes from the calculator (``peft_lab.budget``), a live run on the tiny model, or a
committed sweep in ``results/``; the notebook prints them, it never types them.

    from peft_lab.lessons import motivation as mo
    print(mo.format_costs(mo.full_ft_costs(["gpt2", "llama-7b"])))   # by part, and which cards fit
    mo.bytes_per_parameter("mixed")     # 16.0: where the chapter's "params x 16 bytes" comes from
    mo.bytes_per_parameter("bf16")      # 12.0: the QLoRA paper's 16-bit full fine-tuning
    print(mo.format_pretraining(mo.pretraining_rows(load_results("baselines"))))
    mo.live_summary(runs, models, batch_size=16, seq_len=48)   # measured memory: gaps and shares
"""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

from .. import budget
from ..budget.memory import MemoryParts, MemoryReport
from ..i18n import t

# Memory of three common GPU classes (24: RTX 3090/4090; 48: RTX A6000, L40S; 80: A100/H100 80GB), in
# GiB = 2**30 bytes, the unit nvidia-smi and budget.human_bytes use.
CARDS_GIB = (24, 48, 80)
GIB = 2**30
PARTS = MemoryParts.PARTS

# ----------------------------------------------------------------------------- calculator: costs vs cards

def _cards(cards) -> tuple[int, ...]:
    cards = tuple(cards)
    if not cards or any(isinstance(c, bool) or not isinstance(c, (int, float)) or c <= 0 for c in cards):
        raise ValueError(f"cards={cards!r} must be GPU memory sizes in GiB, positive numbers")
    return cards


def fits(total_bytes: float, cards=CARDS_GIB) -> tuple[int, ...]:
    """The cards (GiB) whose memory holds ``total_bytes`` (one card, nothing else resident)."""
    return tuple(c for c in _cards(cards) if total_bytes <= c * GIB)


def fits_label(total_bytes: float, cards=CARDS_GIB) -> str:
    """'24 GiB ✗ · 48 GiB ✓ · 80 GiB ✓': which single cards hold ``total_bytes``."""
    ok = fits(total_bytes, cards)
    return " · ".join(f"{c:g} GiB {'✓' if c in ok else '✗'}" for c in _cards(cards))


def full_ft_costs(models, precision: str = "bf16", batch_size: int = 1, seq_len: int = 512,
                  config=None, **kwargs) -> list[MemoryReport]:
    """``budget.training_memory`` of ``config`` (default: full fine-tuning, AdamW) on each preset."""
    return [budget.training_memory(m, config, precision=precision, batch_size=batch_size, seq_len=seq_len, **kwargs)
            for m in models]


def format_costs(reports, cards=CARDS_GIB) -> str:
    """A text table: each report's parts, total, and the cards it fits on."""
    header = [t("mo_model"), t("mo_params")] + [t(p) for p in PARTS] + [t("mo_total"), t("mo_fits_on")]
    rows = [[r.arch, f"{budget.count(r.arch):,}"] + [budget.human_bytes(getattr(r, p)) for p in PARTS]
            + [budget.human_bytes(r.total), fits_label(r.total, cards)] for r in reports]
    return table(header, rows)


def table(header: list[str], rows: list[list[str]]) -> str:
    """A fixed-width text table whose columns line up with Chinese text (a CJK character is two columns)."""
    def width(s: str) -> int:   # a CJK character takes two columns
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)
    widths = [max(width(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c) + " " * (w - width(str(c))) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def bytes_per_parameter(precision: str = "mixed", optimizer: str = "adamw", arch="bert-base") -> float:
    """Bytes per parameter of full fine-tuning's model states (weights + gradients + optimizer
    state, no activations), read off the calculator: 16 for fp32 or mixed-precision AdamW,
    12 for bf16 (fp32 moments). It does not depend on ``arch``."""
    r = budget.training_memory(arch, None, precision=precision, optimizer=optimizer, batch_size=1, seq_len=1)
    return (r.weights + r.gradients + r.optimizer_state) / budget.count(arch)


def qlora_anchors(seq_len: int = 512) -> dict[str, MemoryReport]:
    """The QLoRA paper's two anchors (Dettmers et al. 2023, abstract) recomputed: LLaMA-65B fully
    fine-tuned in 16 bits (bf16 weights and gradients, fp32 AdamW moments), and QLoRA in the paper's
    setup (NF4 base with double quantisation, LoRA r = 64 on every linear, bf16, gradient
    checkpointing), batch 1."""
    from ..methods.qlora import QLoRAConfig
    full = budget.training_memory("llama-65b", None, precision="bf16", batch_size=1, seq_len=seq_len)
    qlora = budget.training_memory("llama-65b", QLoRAConfig(r=64, target_modules="all-linear"), precision="nf4",
                                   batch_size=1, seq_len=seq_len, gradient_checkpointing=True, include_loss=True)
    return {"full": full, "qlora": qlora}


def model_states(report: MemoryParts) -> int:
    """Weights + gradients + optimizer state: what does not grow with batch or sequence length."""
    return report.weights + report.gradients + report.optimizer_state


# ----------------------------------------------------------------------------- the tiny model, measured

def predicted_for(model, batch_size: int, seq_len: int) -> MemoryReport:
    """What the calculator predicts for one ``pl.fit`` step of ``model`` (fp32 on a CPU, the loss
    included) on batches of ``batch_size`` x ``seq_len`` text tokens."""
    num_labels = model.config.num_labels if model.config.head != "lm" else None
    return budget.training_memory(budget.tiny_from(model.config), getattr(model, "peft_config", None),
                                  num_labels=num_labels, batch_size=batch_size, seq_len=seq_len,
                                  backend="peft_lab", include_loss=True)


def measured_vs_predicted(results: dict, models: dict, batch_size: int, seq_len: int) -> str:
    """A table, per method and part: measured bytes (``RunResult.memory``) beside the calculator's."""
    header = [t("mo_method"), t("mo_part"), t("mo_measured"), t("mo_predicted")]
    rows = []
    for label, result in results.items():
        want = predicted_for(models[label], batch_size, seq_len)
        for i, part in enumerate((*PARTS, "total")):
            rows.append([t(label) if i == 0 else "", t(part) if part != "total" else t("mo_total"),
                         f"{getattr(result.memory, part):,}", f"{getattr(want, part):,}"])
    return table(header, rows)


def activation_share(memory: MemoryParts) -> float:
    """Share of the total training memory taken by activations saved for backward."""
    return memory.activations / memory.total


def live_summary(runs: dict, models: dict, batch_size: int, seq_len: int, full: str = "full",
                 peft: str = "lora_qv") -> dict:
    """What the live runs (``{label: RunResult}`` measured by ``pl.fit(..., measure=True)``) show:
    the largest activation difference from the calculator over all runs (``activation_gap``, bytes),
    ``peft``'s gradients + optimizer state as a share of ``full``'s (``trainable_state_ratio``),
    its total as a share of ``full``'s (``total_ratio``), and ``full``'s :func:`activation_share`."""
    for label in (full, peft):
        if label not in runs:
            raise ValueError(f"{label!r} is not among the runs; labels there: {list(runs)}")
    m = {label: r.memory for label, r in runs.items()}
    gap = max(abs(m[label].activations - predicted_for(models[label], batch_size, seq_len).activations) for label in m)
    return {"activation_gap": gap,
            "trainable_state_ratio": (m[peft].gradients + m[peft].optimizer_state)      # what a frozen base saves
                                     / (m[full].gradients + m[full].optimizer_state),
            "total_ratio": m[peft].total / m[full].total,
            "activation_share": activation_share(m[full])}


def checkpoint_bytes(model) -> int:
    """Bytes on disk of ``pl.save_adapter(model, ...)`` (safetensors + JSON config), written to a
    temporary directory that is deleted afterwards. Full fine-tuning saves the whole model."""
    from ..io import save_adapter
    with tempfile.TemporaryDirectory() as tmp:
        path = save_adapter(model, Path(tmp) / "adapter")
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def unchanged_share(model, reference) -> float:
    """Share of the pretrained body's numbers (every tensor ``reference`` has except its task head)
    still bit-identical in ``model`` after training, the method removed (on a copy)."""
    import torch
    from ..methods import remove
    trained = copy.deepcopy(model)
    if getattr(trained, "peft_config", None) is not None:
        remove(trained)
    now = trained.state_dict()
    same = total = 0
    for name, tensor in reference.state_dict().items():
        if name.startswith("head."):
            continue                      # the task head is new in every method: not pretrained knowledge
        total += tensor.numel()
        same += int(torch.eq(now[name], tensor).sum())
    return same / total


# ----------------------------------------------------------------------------- the chapter's PEFT advantages

PERFORMANCE_LABELS = {"lora": "所有线性层上的 LoRA", "lora_qv": "只加在 q、v 上的 LoRA", "prefix_tuning": "前缀微调"}


def performance_sentence(results: dict, n_test: int, labels: dict = PERFORMANCE_LABELS) -> str:
    """01's check of "PEFT performs like full fine-tuning": full fine-tuning minus each PEFT
    placement in ``labels`` (``results/methods.json``), each with the suite's noise verdict
    (``noise.compare``), then what the verdicts together support."""
    from ..experiments.noise import compare
    parts, behind = [], []
    for label, name in labels.items():
        c = compare(results, "full", label, n_test)
        verdict = "在噪声之内，不能据此排高下" if c["within_noise"] else "超出噪声"
        space = " " if name[-1].isascii() else ""      # "…的 LoRA 高", "…前缀微调高"
        parts.append(f"全参数微调比{name}{space}高 {100 * c['difference']:.1f} 个点（噪声尺度 {100 * c['threshold']:.1f}，{verdict}）")
        if not c["within_noise"] and c["difference"] > 0:
            behind.append(name)
    if behind and len(behind) < len(labels):
        names = "、".join(behind)
        end = (f"{names}{' ' if names[-1].isascii() else ''}落后得超出噪声，其余与全参数微调在噪声之内："
               "PEFT 并非总能追平全参数微调，取决于加在哪里、加多少。")
    elif behind:
        end = "每一种都落后得超出噪声：在这个小模型上，PEFT 没有追平全参数微调。"
    else:
        end = "每一种都与全参数微调在噪声之内：在这个小模型上测不出 PEFT 的性能代价。"
    return "**性能**：" + "；".join(parts) + "。" + end


# ----------------------------------------------------------------------------- does pretraining pay?

def pretraining_rows(results: dict, n_test: int, metric: str = "test_accuracy") -> list[dict]:
    """Pretrained vs random init per method and training-set size (``results/baselines.json``):
    each mean ± std over seeds (``summarize``), and the comparison the whole suite uses
    (``experiments.noise.compare``: the difference, twice its standard error from seeds and test set
    as the noise threshold, within noise or not) -- against random init, and against TF-IDF on the
    same split when it was run."""
    from ..experiments.analysis import summarize
    from ..experiments.noise import compare
    rows = summarize(results, by=("label", "init", "train_size"), metrics=[metric])
    cell = {(r["label"], r["init"], r["train_size"]): r[metric] for r in rows}
    out = []
    for size in dict.fromkeys(r["train_size"] for r in rows):
        tfidf = cell.get(("tfidf", "none", size))
        for label in dict.fromkeys(r["label"] for r in rows if r["init"] == "pretrained"):
            p, s = cell.get((label, "pretrained", size)), cell.get((label, "scratch", size))
            if p is None or s is None:
                continue
            own = {"runs": [r for r in results["runs"] if r.get("label") in (label, "tfidf")]}
            where = {"train_size": size}
            vs_init = compare(own, "pretrained", "scratch", n_test, by="init", metric=metric, where=where)
            vs_tfidf = compare(own, "pretrained", "none", n_test, by="init", metric=metric, where=where) if tfidf else None
            out.append({"label": label, "train_size": size, "pretrained": p, "scratch": s, "tfidf": tfidf,
                        "gap": vs_init["difference"], "noise": vs_init["threshold"],
                        "beyond_noise": not vs_init["within_noise"], "vs_tfidf": vs_tfidf})
    return out


def _pm(s: dict) -> str:
    return f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f} (n={s['n']})"


def format_pretraining(rows: list[dict], n_train: int) -> str:
    """The rows of :func:`pretraining_rows` as a text table, accuracies in points."""
    header = [t("mo_method"), t("mo_labels"), t("mo_pretrained"), t("mo_scratch"), t("mo_gap"), t("mo_noise"), "",
              t("tfidf")]
    body = [[t(r["label"]), t("mo_whole_split", n=n_train) if r["train_size"] is None else f"{r['train_size']:,}",
             _pm(r["pretrained"]), _pm(r["scratch"]), f"{100 * r['gap']:+.1f}", f"{100 * r['noise']:.1f}",
             t("mo_beyond_noise") if r["beyond_noise"] else t("mo_within_noise"),
             f"{100 * r['tfidf']['mean']:.1f}" if r["tfidf"] else "-"] for r in rows]
    return table(header, body)
