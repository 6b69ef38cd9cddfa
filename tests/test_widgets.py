"""The sliders' logic is plain arithmetic that agrees with the budget and with instantiated
modules; the ipywidgets wrappers build headless, and moving a slider changes what they show."""
import math

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

import peft_lab as pl  # noqa: E402
from peft_lab import budget, widgets  # noqa: E402


@pytest.fixture(autouse=True)
def _zh():
    yield
    pl.set_language("zh")


# ----------------------------------------------------------------------------- the views

def test_rank_view_counts_scaling_and_flops():
    v = widgets.rank_view(r=8, alpha=16, d=256, k=64)
    assert (v["full"], v["lora"]) == (256 * 64, 8 * (256 + 64))
    assert v["share"] == 8 * 320 / (256 * 64)
    assert (v["scaling"], v["rslora_scaling"]) == (2.0, 16 / math.sqrt(8))
    assert v["forward_overhead"] == pytest.approx((2 * 8 * 320 + 2 * 256) / (2 * 256 * 64))
    assert 2 / 3 < v["step_ratio"] < 1


def test_at_the_break_even_rank_lora_trains_as_many_parameters_as_delta_w():
    v = widgets.rank_view(r=64, alpha=16, d=128, k=128)
    assert v["break_even_rank"] == 64 and v["lora"] == v["full"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(r=129, alpha=16, d=128, k=128), "r=129 exceeds min\\(d, k\\) = 128; allowed: 1 ... 128"),
    (dict(r=0, alpha=16), "r=0 must be a positive integer"),
    (dict(r=8, alpha=0), "alpha=0 must be a positive number"),
])
def test_rank_view_refuses_impossible_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        widgets.rank_view(**kwargs)


@pytest.mark.parametrize("placement", ["houlsby", "pfeiffer", "parallel"])
def test_bottleneck_view_equals_the_instantiated_adapters(make_model, placement):
    model = make_model(head="lm", d_model=32, n_layers=2)
    arch = budget.tiny_from(model.config)
    v = widgets.bottleneck_view(8, arch, placement)
    pl.apply(model, pl.AdapterConfig(bottleneck=8, placement=placement))
    assert v["trainable"] == pl.count_parameters(model)[0]
    assert v["per_adapter"] == 2 * 32 * 8 + 32 + 8
    assert v["adapters"] == (2 if placement == "houlsby" else 1) * 2
    assert v["in_advice_band"] == (32 / 16 <= 8 <= 32 / 4)


def test_prefix_view_counts_each_design():
    v = widgets.prefix_view(10, "tiny")
    d, n = 128, 4
    assert v["designs"]["prompt_tuning"] == {"trained": 10 * d, "kept": 10 * d}
    assert v["designs"]["p_tuning_v2"] == {"trained": 10 * 2 * n * d, "kept": 10 * 2 * n * d}
    assert v["designs"]["prefix_tuning"]["kept"] == 10 * 2 * n * d < v["designs"]["prefix_tuning"]["trained"]
    assert v["designs"]["p_tuning"]["kept"] == 10 * d < v["designs"]["p_tuning"]["trained"]
    assert v["context_left"] == budget.get("tiny").max_len - 10


def test_the_memory_calculator_covers_every_preset_and_method():
    for model in budget.PRESETS:
        for method in widgets.MEMORY_METHODS:
            report = widgets.memory_view(model, method, "bf16", 1, 32)
            assert report.total > 0 and report.method == method
    lora = widgets.memory_view("llama-7b", "lora", "bf16", 2, 256)
    qv = pl.LoRAConfig(r=8, alpha=16, target_modules=("self_attn.q_proj", "self_attn.v_proj"))
    assert lora == budget.training_memory("llama-7b", qv, "bf16", batch_size=2, seq_len=256)
    assert widgets.method_config("gpt2", "lora").target_modules == ("attn.c_attn",)   # found by role, not by name
    full = widgets.storage_view("llama-7b", "full", n_tasks=3)
    assert full.serving == 3 * full.full_copy


# ----------------------------------------------------------------------------- the widgets

def test_moving_the_rank_slider_updates_numbers_and_diagram():
    box = widgets.rank_explorer(d=128, k=64)
    assert f"{8 * 192:,}" in box.html.value
    box.controls["r"].value = 16
    assert box.html.value == widgets.render_rank(widgets.rank_view(16, 16, 128, 64))
    assert f"{16 * 192:,}" in box.html.value
    assert "image/png" in box.plot.outputs[0]["data"]


def test_bottleneck_and_prefix_explorers_follow_their_sliders():
    box = widgets.bottleneck_explorer("tiny", m=16)
    box.controls["m"].value = 64
    assert f"{budget.count('tiny', pl.AdapterConfig(bottleneck=64)):,}" in box.html.value
    box.controls["placement"].value = "pfeiffer"
    assert f"{budget.count('tiny', pl.AdapterConfig(bottleneck=64, placement='pfeiffer')):,}" in box.html.value
    box = widgets.prefix_explorer("tiny", L=4)
    box.controls["L"].value = 32
    assert f"{32 * 2 * 4 * 128:,}" in box.html.value


def test_the_memory_calculator_shows_an_impossible_choice_instead_of_failing():
    box = widgets.memory_calculator("llama-7b", "lora")
    before = box.html.value
    box.controls["method"].value = "qlora"
    assert box.html.value != before and "GiB" in box.html.value
    box.controls["method"].value = "full"
    box.controls["precision"].value = "nf4"          # a 4-bit base cannot be fully fine-tuned
    assert "cannot be trained" in box.html.value


def test_widget_labels_follow_the_language():
    assert widgets.rank_explorer(figure=False).controls["r"].description == pl.i18n.t("rank")
    pl.set_language("en")
    box = widgets.rank_explorer(figure=False)
    assert box.controls["r"].description == "Rank r" and "Share" in box.html.value


def test_the_train_button_reports_progress_and_shows_the_run(make_model):
    calls = []

    def fake_fit(model, task, hooks=(), progress=True, steps=5, **kwargs):
        calls.append((task, steps, kwargs))
        history = []
        for step in range(steps):
            for h in hooks:
                h.after_step(model, step)
            history.append({"step": step, "loss": 1.0 / (step + 1)})
        return pl.RunResult("lora", {}, task, 0, steps, 1e-3, {"test_accuracy": 0.5}, 10, 100, 0.01, 0.1,
                            history=history)

    box = widgets.train_button(lambda: make_model(), fit=fake_fit, steps=5, lr=1e-3)
    assert box.progress.max == 5 and box.result is None
    box.button.click()
    assert calls == [("sentiment", 5, {"lr": 1e-3})]
    assert box.progress.value == 5 and box.result.steps == 5
    assert str(box.result) in box.html.value and "image/png" in box.plot.outputs[0]["data"]
    assert not box.button.disabled


def test_a_diverging_run_is_reported_not_raised(make_model):
    def diverging(model, task, hooks=(), progress=True, **kwargs):
        raise FloatingPointError("the loss became nan at step 3 (lr=1): the learning rate is probably too high")

    box = widgets.train_button(lambda: make_model(), fit=diverging, steps=5)
    box.button.click()
    assert "too high" in box.html.value and box.result is None and not box.button.disabled
