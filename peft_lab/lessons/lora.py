"""02_lora: the measurements behind the LoRA notebook's sentences, as plain numbers.

Each function does what one notebook cell used to spell out inline (grouping a sweep, timing
inference, quantising a base, comparing LoRA+ with LoRA); the cell calls it and renders the
sentence with ``say``. Nothing here types a number: everything is read from ``results/`` or
measured on the model it is given.

    from peft_lab.lessons import lora as lesson
    acc = lesson.by_variant_rank(load_results("lora_rank"))       # {(variant, r): {"mean", "std", "n"}}
    lesson.latency(load_bench()["inference"])                    # merged/unmerged ratios to the base
    lesson.loraplus_vs_lora(load_results("methods"), n_test)     # means, rates, gap, se and a verdict
"""
from __future__ import annotations

import torch
from torch import nn

from ..experiments.analysis import chosen_lrs, select, summarize
from ..experiments.noise import Z, compare, compare_stats, group_stats
from ..methods.base import peft_layers


def pct(s: dict, digits: int = 1) -> str:
    """'81.2%（± 1.0）': an accuracy's mean and standard deviation (fractions) in percent."""
    return f"{100 * s['mean']:.{digits}f}%（± {100 * s['std']:.{digits}f}）"


# ----------------------------------------------------------------------------- LoRA at initialisation

@torch.no_grad()
def same_outputs(a: nn.Module, b: nn.Module, ids: torch.Tensor, mask: torch.Tensor | None = None) -> bool:
    """Whether two models give bit-identical outputs on ``ids`` in eval mode (no dropout). Both models
    are left in eval mode, as a notebook that goes on to inspect them expects."""
    a.eval(), b.eval()
    return torch.equal(a(ids, attention_mask=mask), b(ids, attention_mask=mask))


# ----------------------------------------------------------------------------- the rank sweep

def by_variant_rank(sweep: dict, metric: str = "test_accuracy") -> dict[tuple[str, int], dict]:
    """``{(variant, r): {"mean", "std", "n"}}`` of ``metric`` over the final runs of a rank sweep."""
    return {(row["variant"], row["config.r"]): row[metric]
            for row in summarize(sweep, by=("variant", "config.r"), metrics=[metric])}


# ----------------------------------------------------------------------------- merged inference latency

def latency(inference: dict, merged: str = "lora_merged", unmerged: str = "lora_unmerged") -> dict:
    """From a ``bench.relative`` report (``{"rows": {variant: {"ratio", "ratio_iqr"}}}``): the median
    ratio to the base of the unmerged and merged LoRA, the merged one's IQR, and ``same_as_base``:
    whether that IQR contains 1 (latency equal to the base's within the measurement's spread)."""
    rows = inference["rows"]
    missing = [v for v in (merged, unmerged) if v not in rows]
    if missing:
        raise ValueError(f"variant {missing[0]!r} is not in the timing rows; variants: {list(rows)}")
    low, high = rows[merged]["ratio_iqr"]
    return {"unmerged": rows[unmerged]["ratio"], "merged": rows[merged]["ratio"], "merged_iqr": (low, high),
            "same_as_base": low <= 1 <= high}


def live_inference(batch: int = 8, max_len: int = 64, rounds: int = 15, warmup: int = 2) -> dict:
    """Time the pretrained base, unmerged and merged LoRA on this machine, interleaved round by round;
    returns ``bench.relative`` against the base (what :func:`latency` reads)."""
    from .. import bench
    make, data = bench.pretrained_setup(bench.Settings(batch=batch, max_len=max_len))
    fns = {v: bench.inference(bench.inference_model(v, make), data) for v in ("base", "lora_unmerged", "lora_merged")}
    return bench.relative(bench.interleaved(fns, rounds=rounds, warmup=warmup), "base")


# ----------------------------------------------------------------------------- AdaLoRA

def adalora_mean_ranks(results: dict, label: str = "adalora") -> dict:
    """The rank AdaLoRA kept per kind of matrix (``q_proj``, ``up_proj``, ...), averaged over the layers
    and final runs of ``label``: ``{"runs": n, "means": {kind: mean rank}}`` (kinds in first-seen order)."""
    patterns = [r["details"]["rank_pattern"] for r in select(results, "final", {"label": label})]
    if not patterns:
        raise ValueError(f"no final run with label={label!r} holds a rank_pattern")
    by_kind: dict[str, list[int]] = {}
    for pattern in patterns:
        for name, kept in pattern.items():
            by_kind.setdefault(name.rsplit(".", 1)[-1], []).append(kept)
    return {"runs": len(patterns), "means": {kind: sum(v) / len(v) for kind, v in by_kind.items()}}


# ----------------------------------------------------------------------------- QLoRA

def quantize_base(model: nn.Module, config) -> dict:
    """Apply a QLoRA ``config`` to ``model`` (in place) and measure what NF4 did to its linear layers:
    ``{"layers", "bits"`` (stored bits per weight), ``"fp32_bytes"``, ``"stored_bytes"``, ``"errors"}``,
    where ``errors`` are the relative errors ‖Ŵ − W‖/‖W‖ of the dequantised weights, one per layer."""
    from .. import methods
    from ..methods import nf4, qlora
    if not isinstance(config, qlora.QLoRAConfig):
        raise TypeError(f"config={config!r} must be a QLoRAConfig: only QLoRA stores the base in NF4")
    originals = {n: m.weight.detach().clone() for n, m in model.named_modules()
                 if isinstance(m, nn.Linear) and n != "head"}
    methods.apply(model, config)
    quantized = {n: layer.base for n, layer in peft_layers(model) if isinstance(getattr(layer, "base", None), nf4.NF4Linear)}
    errors = [((q.dequantize() - originals[n]).norm() / originals[n].norm()).item() for n, q in quantized.items()]
    return {"layers": len(quantized), "bits": nf4.bits_per_parameter(model),
            "fp32_bytes": sum(4 * originals[n].numel() for n in quantized),
            "stored_bytes": sum(nf4.storage_bytes(q) for q in quantized.values()), "errors": errors}


# ----------------------------------------------------------------------------- LoRA+

def verdict(difference: float, se: float, z: float = Z) -> str:
    """'within' when ``|difference| < z · se``, else 'higher' or 'lower' (the sign of the difference)."""
    if not se >= 0:
        raise ValueError(f"se={se!r} must be a standard error, a number >= 0")
    if abs(difference) < z * se:
        return "within"
    return "higher" if difference > 0 else "lower"


def loraplus_vs_lora(results: dict, n_test: int, a: str = "loraplus", b: str = "lora", z: float = Z) -> dict:
    """LoRA+ (``a``) against LoRA (``b``) over their final runs: each one's accuracy stats and chosen
    learning rate, LoRA+'s ``ratio`` (B's rate over A's), the gap of the means, its standard error
    (``noise.compare``: the seed spreads and the test set's sampling error, as every comparison in the
    notebooks) and :func:`verdict` of the gap against ``z`` of it."""
    stats = group_stats(results)
    missing = [g for g in (a, b) if g not in stats]
    if missing:
        raise ValueError(f"no finished run with label {missing[0]!r}; labels: {list(stats)}")
    c = compare(results, a, b, n_test, z=z)
    lrs = chosen_lrs(results)
    ratio = next(r["optimizer"]["ratio"] for r in select(results, "final", {"label": a}))
    return {a: stats[a], b: stats[b], "lr": {a: lrs[a], b: lrs[b]}, "ratio": ratio, "gap": c["difference"],
            "se": c["se"], "threshold": c["threshold"], "verdict": verdict(c["difference"], c["se"], z)}


LORAPLUS_VERDICT = {"within": "在噪声之内，分不出高下", "lower": "LoRA+ 反而更低，超出噪声", "higher": "LoRA+ 更高，超出噪声"}


def loraplus_sentence(lp: dict) -> str:
    """02's sentence on :func:`loraplus_vs_lora`: both accuracies and rates, the gap against its
    noise threshold, and, unless LoRA+ came out higher, how its chosen rates compare with LoRA's."""
    lr, ratio = lp["lr"], lp["ratio"]
    text = (f"测试准确率：LoRA {100 * lp['lora']['mean']:.1f}%（± {100 * lp['lora']['std']:.1f}，学习率 {lr['lora']:g}），"
            f"LoRA+ {100 * lp['loraplus']['mean']:.1f}%（± {100 * lp['loraplus']['std']:.1f}，基础学习率 {lr['loraplus']:g}，"
            f"即 B 的学习率 {ratio * lr['loraplus']:g}）。差 {100 * lp['gap']:+.1f} 个百分点，"
            f"噪声阈值 ±{100 * lp['threshold']:.1f}（种子波动加测试集抽样误差）：{LORAPLUS_VERDICT[lp['verdict']]}。")
    if lp["verdict"] != "higher":
        text += (f"验证集替 LoRA+ 选的基础学习率是 LoRA 的 {lr['loraplus'] / lr['lora']:.2g} 倍，B 的实际学习率是 LoRA 的 "
                 f"{ratio * lr['loraplus'] / lr['lora']:.2g} 倍——在这个窄模型上，给 B 单独加速没有带来可测的收益。")
    return text


def loraplus_ratios(ratios: dict, n_test: int, z: float = Z) -> dict:
    """The ``loraplus_ratio`` sweep read against λ = 1 (plain LoRA at the same base rate): per ratio
    the accuracy stats, the best ratio, and ``noise.compare`` of the best against λ = 1 (seed spread
    + the test set's sampling error). ``{"by_ratio", "best", "base_lr", "vs_one"}``."""
    by_ratio = group_stats(ratios, by="optimizer.ratio")
    if 1 not in by_ratio or len(by_ratio) < 2:
        raise ValueError(f"the sweep needs ratio 1 and at least one other ratio, it has {sorted(by_ratio)}")
    best = max(by_ratio, key=lambda k: by_ratio[k]["mean"])
    base_lr = {r["lr"] for r in select(ratios, "final")}
    if len(base_lr) != 1:
        raise ValueError(f"the ratios were trained at different base rates {sorted(base_lr)}: not one sweep")
    vs_one = None if best == 1 else compare(ratios, best, 1, n_test, by="optimizer.ratio", z=z)
    return {"by_ratio": by_ratio, "best": best, "base_lr": base_lr.pop(), "vs_one": vs_one}


# ----------------------------------------------------------------------------- DyLoRA

def dylora_vs_lora(by: dict, n_test: int, z: float = Z) -> dict:
    """``experiments.dylora_by_rank``'s two halves read with the suite's noise rule (seeds plus the
    test set's sampling error, ``noise.compare_stats``): ``usable``, the smallest rank b at which the
    one DyLoRA model is within noise of itself at its full rank; and ``vs_lora``, per rank both
    have, DyLoRA at b against the LoRA trained for that rank."""
    dy, lo = by["dylora"], by["lora"]
    full = max(dy)
    usable = min(b for b in dy if compare_stats(dy[b], dy[full], n_test, z)["within_noise"])
    vs_lora = {r: compare_stats(dy[r], lo[r], n_test, z) for r in lo if r in dy}
    if not vs_lora:
        raise ValueError(f"DyLoRA's ranks {sorted(dy)} and LoRA's {sorted(lo)} have none in common")
    return {"full": full, "usable": usable, "vs_lora": vs_lora}


def dylora_sentence(by: dict, n_test: int, z: float = Z) -> str:
    """02's reading of the DyLoRA sweep: the accuracies at every rank, the smallest usable rank, and
    how DyLoRA at each rank compares with the LoRA trained for it -- beyond noise only where it is."""
    dy, lo, d = by["dylora"], by["lora"], dylora_vs_lora(by, n_test, z)
    lower = [r for r, c in d["vs_lora"].items() if not c["within_noise"] and c["difference"] < 0]
    gaps = "，".join(f"r = {r} 差 {100 * c['difference']:+.1f}（阈值 ±{100 * c['threshold']:.1f}）"
                     for r, c in d["vs_lora"].items())
    text = ("同一个 DyLoRA 模型在各秩上的测试准确率：" + "，".join(f"b = {b} 为 {pct(s)}" for b, s in dy.items())
            + "。分别训练的 LoRA：" + "，".join(f"r = {r} 为 {pct(s)}" for r, s in lo.items())
            + f"。从 b = {d['usable']} 起，DyLoRA 与它自己在满秩 b = {d['full']} 时的成绩在噪声之内：一次训练换来一整排可用的秩。"
            + f"与专门为那个秩训练的 LoRA 相比（DyLoRA − LoRA，百分点）：{gaps}。")
    if lower:
        return text + (f"在 r = {'、'.join(map(str, lower))} 上它低于专门训练的 LoRA，超出噪声——"
                       "这是“训练一次、任意秩可用”的代价。")
    below = sum(c["difference"] < 0 for c in d["vs_lora"].values())
    means = "均值上每个秩都比 LoRA 低" if below == len(d["vs_lora"]) else f"均值上有 {below} 个秩比 LoRA 低"
    return text + (f"{means}，但每一个差都在噪声之内：每个秩只有 {min(s['n'] for s in dy.values())} 个种子，"
                   "“训练一次、任意秩可用”若有代价，也小于这里测得出的程度。")


# ----------------------------------------------------------------------------- DoRA

@torch.no_grad()
def set_update(layers, A: torch.Tensor, B: torch.Tensor) -> None:
    """Give every low-rank layer in ``layers`` the same ``A`` and ``B`` (copied in place)."""
    for layer in layers:
        layer.A.copy_(A)
        layer.B.copy_(B)


@torch.no_grad()
def norm_and_direction(W: torch.Tensor, W0: torch.Tensor) -> dict:
    """How ``W`` differs from ``W0`` row by row (one row per output feature): the largest relative
    change of a row's norm, and the mean cosine between matching rows (1: directions unchanged)."""
    if W.shape != W0.shape:
        raise ValueError(f"W has shape {tuple(W.shape)} but W0 has {tuple(W0.shape)}: they must match")
    n, n0 = W.norm(dim=1), W0.norm(dim=1)
    return {"max_norm_deviation": ((n - n0).abs() / n0).max().item(),
            "mean_cosine": torch.nn.functional.cosine_similarity(W, W0, dim=1).mean().item()}
