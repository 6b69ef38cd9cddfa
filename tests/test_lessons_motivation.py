"""peft_lab.lessons.motivation.live_summary: the live memory sentence of 01, on constructed runs."""
from dataclasses import replace
from types import SimpleNamespace

import pytest

import peft_lab as pl
from peft_lab.budget.memory import MemoryParts
from peft_lab.lessons import motivation as mo


def _models(make_model):
    return {"full": pl.apply(make_model(), pl.FullFineTuningConfig()),
            "lora_qv": pl.apply(make_model(), pl.LoRAConfig(r=2, alpha=4, target_modules=("q_proj", "v_proj")))}


def test_live_summary_measures_the_gap_from_the_calculator(make_model):
    models = _models(make_model)
    exact = {label: SimpleNamespace(memory=mo.predicted_for(m, 4, 8)) for label, m in models.items()}
    assert mo.live_summary(exact, models, 4, 8)["activation_gap"] == 0
    off = dict(exact, lora_qv=SimpleNamespace(memory=replace(exact["lora_qv"].memory,
                                                            activations=exact["lora_qv"].memory.activations - 96)))
    assert mo.live_summary(off, models, 4, 8)["activation_gap"] == 96


def test_live_summary_ratios_follow_the_parts(make_model):
    models = _models(make_model)
    runs = {"full": SimpleNamespace(memory=MemoryParts(weights=100, gradients=100, optimizer_state=200, activations=600)),
            "lora_qv": SimpleNamespace(memory=MemoryParts(weights=100, gradients=10, optimizer_state=20, activations=370))}
    s = mo.live_summary(runs, models, 4, 8)
    assert s["trainable_state_ratio"] == pytest.approx(30 / 300)
    assert s["total_ratio"] == pytest.approx(500 / 1000)
    assert s["activation_share"] == pytest.approx(0.6) == mo.activation_share(runs["full"].memory)


def test_live_summary_names_a_missing_run(make_model):
    runs = {"full": SimpleNamespace(memory=MemoryParts(1, 1, 1, 1))}
    with pytest.raises(ValueError, match="lora_qv"):
        mo.live_summary(runs, _models(make_model), 4, 8)


def test_performance_sentence_claims_a_gap_only_beyond_noise():
    from peft_lab.lessons.practice import runs_from_stats
    n_test = 2000
    results = runs_from_stats({"full": (0.80, 0.005, 3), "lora": (0.795, 0.005, 3),
                               "lora_qv": (0.70, 0.005, 3), "prefix_tuning": (0.79, 0.005, 3)})
    said = mo.performance_sentence(results, n_test)
    assert "全参数微调比只加在 q、v 上的 LoRA 高 10.0 个点" in said and said.count("超出噪声") == 2
    assert "只加在 q、v 上的 LoRA 落后得超出噪声，其余与全参数微调在噪声之内" in said
    tied = runs_from_stats({label: (0.80, 0.005, 3) for label in ("full", "lora", "lora_qv", "prefix_tuning")})
    assert "测不出 PEFT 的性能代价" in mo.performance_sentence(tied, n_test)
    behind = runs_from_stats({"full": (0.90, 0.0, 3), **{l: (0.70, 0.0, 3) for l in ("lora", "lora_qv", "prefix_tuning")}})
    assert "每一种都落后得超出噪声" in mo.performance_sentence(behind, n_test)
