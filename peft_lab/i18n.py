"""One language table for every piece of figure and widget text: Chinese by default, English on request.

    pl.set_language("en")   # every figure drawn afterwards speaks English
    t("params")             # -> "参数量" or "Parameters"
"""
from __future__ import annotations

LANGUAGES = ("zh", "en")
_state = {"language": "zh"}

# Display names of the methods (keys are the registry names) and the shared vocabulary of figures.
TEXT: dict[str, dict[str, str]] = {
    # methods
    "full": {"zh": "全参数微调", "en": "Full fine-tuning"},
    "head_only": {"zh": "仅训练分类头", "en": "Head only"},
    "bitfit": {"zh": "BitFit", "en": "BitFit"},
    "lora": {"zh": "LoRA", "en": "LoRA"},
    "rslora": {"zh": "rsLoRA", "en": "rsLoRA"},
    "dora": {"zh": "DoRA", "en": "DoRA"},
    "loraplus": {"zh": "LoRA+", "en": "LoRA+"},
    "dylora": {"zh": "DyLoRA", "en": "DyLoRA"},
    "adalora": {"zh": "AdaLoRA", "en": "AdaLoRA"},
    "qlora": {"zh": "QLoRA", "en": "QLoRA"},
    "adapter": {"zh": "Adapter", "en": "Adapter"},
    "adapter_houlsby": {"zh": "Adapter (Houlsby)", "en": "Adapter (Houlsby)"},
    "adapter_pfeiffer": {"zh": "Adapter (Pfeiffer)", "en": "Adapter (Pfeiffer)"},
    "adapter_parallel": {"zh": "并行 Adapter", "en": "Parallel adapter"},
    "prompt_tuning": {"zh": "Prompt Tuning", "en": "Prompt tuning"},
    "p_tuning": {"zh": "P-Tuning", "en": "P-Tuning"},
    "prefix_tuning": {"zh": "Prefix Tuning", "en": "Prefix tuning"},
    "p_tuning_v2": {"zh": "P-Tuning v2", "en": "P-Tuning v2"},
    "ia3": {"zh": "IA³", "en": "IA³"},
    "scratch": {"zh": "随机初始化", "en": "From scratch"},
    "pretrained": {"zh": "预训练初始化", "en": "Pretrained"},
    "tfidf": {"zh": "TF-IDF + 逻辑回归", "en": "TF-IDF + logistic regression"},
    # scaling rules of the rank sweep
    "alpha=16": {"zh": "α 固定为 16（缩放 16/r）", "en": "α fixed at 16 (scaling 16/r)"},
    "alpha=2r": {"zh": "α = 2r（缩放恒为 2）", "en": "α = 2r (scaling 2)"},
    "rslora_rule": {"zh": "rsLoRA（缩放 16/√r）", "en": "rsLoRA (scaling 16/√r)"},
    # measurements
    "params": {"zh": "参数量", "en": "Parameters"},
    "trainable_params": {"zh": "可训练参数量", "en": "Trainable parameters"},
    "test_accuracy": {"zh": "测试集准确率", "en": "Test accuracy"},
    "val_accuracy": {"zh": "验证集准确率", "en": "Validation accuracy"},
    "test_f1": {"zh": "测试集 F1", "en": "Test F1"},
    "sec_per_step": {"zh": "每步训练时间 (秒)", "en": "Seconds per training step"},
    "latency": {"zh": "推理延迟 (毫秒)", "en": "Inference latency (ms)"},
    "memory": {"zh": "训练显存/内存", "en": "Training memory"},
    "weights": {"zh": "权重", "en": "Weights"},
    "gradients": {"zh": "梯度", "en": "Gradients"},
    "optimizer_state": {"zh": "优化器状态", "en": "Optimizer state"},
    "activations": {"zh": "激活值", "en": "Activations"},
    "loss": {"zh": "损失", "en": "Loss"},
    "step": {"zh": "训练步数", "en": "Step"},
    "rank": {"zh": "秩 r", "en": "Rank r"},
    "bottleneck": {"zh": "瓶颈维度 m", "en": "Bottleneck m"},
    "prefix_length": {"zh": "前缀长度 L", "en": "Prefix length L"},
    "train_size": {"zh": "训练样本数", "en": "Training examples"},
    "measured": {"zh": "实测", "en": "measured"},
    "font_check": {"zh": "中文字体测试：参数高效微调", "en": "Font check: parameter-efficient fine-tuning"},
}


def set_language(language: str) -> None:
    """Switch all figure and widget text: ``"zh"`` (default) or ``"en"``."""
    if language not in LANGUAGES:
        raise ValueError(f"language={language!r} is not one of {LANGUAGES}")
    _state["language"] = language


def get_language() -> str:
    return _state["language"]


def t(key: str, **fmt) -> str:
    """The text for ``key`` in the current language (``str.format`` fields filled from ``fmt``)."""
    try:
        entry = TEXT[key]
    except KeyError:
        raise KeyError(f"no text for {key!r} in the language table (peft_lab.i18n.TEXT)") from None
    return entry[_state["language"]].format(**fmt)
