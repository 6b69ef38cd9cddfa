"""Every number the suite quotes from a paper, in one place, with where it is printed.

Measured or computed numbers are never typed into a notebook's Markdown; these are the only
figures that may be (a test scans every Markdown cell, see :func:`figures_in`). A Markdown cell
that quotes one must also name its source, e.g. "Dettmers et al., 2023".

    from peft_lab.citations import PAPERS, cite
    cite("qlora_65b")   # '…超过 780 GB…（Dettmers et al., 2023，QLoRA 论文摘要）'
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Citation:
    """A figure a paper reports. ``figures`` are the exact strings that may appear in Markdown;
    ``ref`` is how the Markdown must name the source; ``where`` pins the table, figure or section."""
    ref: str
    paper: str
    where: str
    figures: tuple[str, ...]
    claim: str   # the sentence, in Chinese, with the figures in it

    def markdown(self) -> str:
        return f"{self.claim}（{self.ref}，{self.paper}，{self.where}）"


PAPERS: dict[str, Citation] = {
    "qlora_65b": Citation(
        ref="Dettmers et al., 2023", paper="QLoRA: Efficient Finetuning of Quantized LLMs", where="摘要与第 1 节",
        figures=("65B", "780 GB", "48 GB"),
        claim="以 16 位精度对 65B 参数的 LLaMA 做常规微调需要超过 780 GB 的显存；QLoRA 把它降到一块 48 GB 的显卡之内"),
    "lora_gpt3": Citation(
        ref="Hu et al., 2021", paper="LoRA: Low-Rank Adaptation of Large Language Models", where="摘要",
        figures=("175B", "10,000 倍", "3 倍"),
        claim="在 GPT-3 175B 上，与用 Adam 的全参数微调相比，LoRA 把可训练参数减少约 10,000 倍、显存需求减少约 3 倍"),
    "lora_gpt3_storage": Citation(
        ref="Hu et al., 2021", paper="LoRA: Low-Rank Adaptation of Large Language Models", where="第 4.2 节",
        figures=("175B", "1.2 TB", "350 GB", "35 MB"),
        claim="GPT-3 175B 训练时的显存从 1.2 TB 降到 350 GB；r = 4 且只适配 q、v 时，检查点从 350 GB 缩到约 35 MB"),
    "zero_16_bytes": Citation(
        ref="Rajbhandari et al., 2020", paper="ZeRO: Memory Optimizations Toward Training Trillion Parameter Models",
        where="第 3.1 节", figures=("1.5B", "24 GB"),
        claim="用混合精度和 Adam 训练 Ψ 个参数的模型，仅模型状态（fp16 参数与梯度、fp32 的参数副本和两个动量）"
              "就要 2Ψ + 2Ψ + 12Ψ = 16Ψ 字节：1.5B 参数的 GPT-2 至少需要 24 GB，激活值还不算在内"),
    "houlsby_glue": Citation(
        ref="Houlsby et al., 2019", paper="Parameter-Efficient Transfer Learning for NLP", where="摘要",
        figures=("0.4%", "3.6%"),
        claim="在 GLUE 上，Adapter 每个任务只增加 3.6% 的参数，成绩与全参数微调相差不到 0.4%"),
    "prefix_share": Citation(
        ref="Li & Liang, 2021", paper="Prefix-Tuning: Optimizing Continuous Prompts for Generation", where="摘要",
        figures=("0.1%",),
        claim="前缀微调只训练约 0.1% 的参数，在全量数据的表格到文本生成上与全参数微调相当"),
    "prefix_reparam": Citation(
        ref="Li & Liang, 2021", paper="Prefix-Tuning: Optimizing Continuous Prompts for Generation", where="第 4.3 节",
        figures=(),
        claim="直接更新前缀参数会使优化不稳定、性能略有下降，所以论文用一个较小的矩阵经 MLP 生成前缀（重参数化）；"
              "训练结束后可以丢掉重参数化的参数，只保存前缀本身"),
    "lora_qv": Citation(
        ref="Hu et al., 2021", paper="LoRA: Low-Rank Adaptation of Large Language Models", where="第 7.1 节，表 5",
        figures=("175B",),
        claim="在 GPT-3 175B 上、可训练参数总量相同时，同时适配 $W_q$ 和 $W_v$ 的总体效果最好，"
              "把全部预算放在单一种类的矩阵上（如只适配 $W_q$）则明显更差"),
    "lester_scale": Citation(
        ref="Lester et al., 2021", paper="The Power of Scale for Parameter-Efficient Prompt Tuning", where="图 1 与摘要",
        figures=("11B",),
        claim="在 SuperGLUE 上，T5 越大，提示微调与全模型微调的差距越小：小模型上明显落后，到 XXL（11B 参数）时与全模型微调相当"),
}

# A figure a reader would take for a measurement: a percentage, a ratio or speed-up, an amount of memory,
# a latency.
FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?\s*(?:%|％|×|倍|[KMGT]i?B\b|字节|ms\b|毫秒)"
                    r"|\b\d+(?:\.\d+)?\s*x\b(?=\s*(?:faster|slower|fewer|less|more|speed))", re.IGNORECASE)
_STRIP = re.compile(r"`[^`]*`|\$[^$]*\$|\(https?://[^)]*\)")   # code, maths and link targets are not prose


def cite(key: str) -> str:
    """The cited sentence for ``key`` as Markdown, source included."""
    try:
        return PAPERS[key].markdown()
    except KeyError:
        raise KeyError(f"no citation {key!r}; known: {sorted(PAPERS)}") from None


def figures_in(markdown: str) -> list[str]:
    """The measurement-like figures in a Markdown text (outside code spans and maths)."""
    return [m.group(0) for m in FIGURE.finditer(_STRIP.sub(" ", markdown))]


def uncited_figures(markdown: str) -> list[str]:
    """Figures in ``markdown`` that are not a cited paper figure named together with its source."""
    text = _STRIP.sub(" ", markdown)
    allowed = {" ".join(f.split()) for c in PAPERS.values() if c.ref in text for f in c.figures}
    return [f for f in figures_in(markdown) if " ".join(f.split()) not in allowed]
