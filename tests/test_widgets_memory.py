"""The memory calculator draws what it computes: stacked bars beside full fine-tuning's, numbers
that follow every control, and which GPU cards hold the total. Plus the 01_motivation helpers
(``peft_lab.lessons.motivation``): calculator anchors, measured parts, checkpoints, baselines."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from helpers import shown_png  # noqa: E402

import peft_lab as pl  # noqa: E402
from peft_lab import budget, widgets  # noqa: E402
from peft_lab.lessons import motivation as mo  # noqa: E402


@pytest.fixture(autouse=True)
def _zh():
    yield
    pl.set_language("zh")
    plt.close("all")


# ----------------------------------------------------------------------------- the widget

def test_the_calculator_draws_stacked_bars_of_full_ft_and_the_method():
    reports = widgets.memory_reports("llama-7b", "lora", "bf16", 2, 256)
    assert [r.method for r in reports] == ["full", "lora"]
    assert reports[1] == widgets.memory_view("llama-7b", "lora", "bf16", 2, 256)
    assert reports[0].optimizer_state > reports[1].optimizer_state   # the reference is the costlier one
    fig = widgets.memory_figure("llama-7b", "lora", "bf16", 2, 256)
    ax = fig.axes[0]
    heights = {}
    for container, part in zip(ax.containers, mo.PARTS):   # one BarContainer per part, bottom first
        heights[part] = [bar.get_height() for bar in container]
    assert list(heights) == list(mo.PARTS) and all(len(v) == 2 for v in heights.values())
    # the bars are the reports, part by part (in the figure's unit)
    scale = reports[0].weights / heights["weights"][0]
    for part in mo.PARTS:
        for bar, report in zip(heights[part], reports):
            assert bar * scale == pytest.approx(getattr(report, part), rel=1e-9)


def test_full_fine_tuning_is_one_bar_and_a_4bit_base_is_compared_with_bf16():
    assert [r.method for r in widgets.memory_reports("gpt2", "full", "fp32")] == ["full"]
    full, qlora = widgets.memory_reports("llama-7b", "qlora", "nf4")
    assert (full.method, full.precision, qlora.method, qlora.precision) == ("full", "bf16", "qlora", "nf4")


def test_moving_a_control_changes_the_numbers_and_the_bars():
    box = widgets.memory_calculator("llama-7b", "lora")
    html, picture = box.html.value, shown_png(box.plot)
    assert "GiB" in html and ("✓" in html or "✗" in html)
    for name, value in (("batch_size", 8), ("seq_len", 1000), ("gradient_checkpointing", True),
                        ("precision", "fp32"), ("method", "prefix_tuning"), ("model", "gpt2-large")):
        box.controls[name].value = value
        assert box.html.value != html, name
        assert shown_png(box.plot) != picture, name
        html, picture = box.html.value, shown_png(box.plot)
    box.controls["n_tasks"].value = 10          # storage only: the bars stay, the serving cost moves
    assert box.html.value != html and shown_png(box.plot) == picture
    assert budget.human_bytes(widgets.storage_view("gpt2-large", "prefix_tuning", "fp32", 10).serving) in box.html.value


def test_the_numbers_shown_are_the_calculators():
    box = widgets.memory_calculator("llama-7b", "full")
    report = widgets.memory_view("llama-7b", "full", "bf16", 1, 512)
    for part in mo.PARTS:
        assert budget.human_bytes(getattr(report, part)) in box.html.value
    assert mo.fits_label(report.total) in box.html.value


def test_an_impossible_choice_says_why_instead_of_drawing():
    box = widgets.memory_calculator("bert-base", "lora")
    assert box.plot.outputs
    box.controls["seq_len"].value = 1024        # BERT's context is 512
    assert "exceeds" in box.html.value and "512" in box.html.value
    assert not box.plot.outputs                 # no stale bars of the previous setting under the error
    box.controls["seq_len"].value = 256
    assert box.plot.outputs and "exceeds" not in box.html.value


def test_the_calculator_can_skip_the_figure_and_take_other_cards():
    box = widgets.memory_calculator("llama-7b", "full", figure=False, cards=(16, 141))
    assert not box.plot.outputs and "16 GiB" in box.html.value and "141 GiB" in box.html.value


def test_widget_text_follows_the_language():
    pl.set_language("en")
    box = widgets.memory_calculator("gpt2", "lora", figure=False)
    assert box.controls["gradient_checkpointing"].description == "Gradient checkpointing"
    assert "Fits on" in box.html.value


# ----------------------------------------------------------------------------- lessons.motivation

def test_cards_fit_by_capacity():
    assert mo.fits(24 * 2**30) == (24, 48, 80) and mo.fits(24 * 2**30 + 1) == (48, 80)
    assert mo.fits(1e15) == () and mo.fits_label(30 * 2**30) == "24 GiB ✗ · 48 GiB ✓ · 80 GiB ✓"
    with pytest.raises(ValueError, match="cards="):
        mo.fits(1, cards=(0,))


def test_bytes_per_parameter_explains_the_chapters_16_bytes():
    # mixed-precision AdamW: 2 (bf16 weight) + 2 (gradient) + 4 (fp32 master) + 8 (two fp32 moments)
    assert mo.bytes_per_parameter("mixed") == 2 + 2 + 4 + 2 * 4
    assert mo.bytes_per_parameter("bf16") == 2 + 2 + 2 * 4
    assert mo.bytes_per_parameter("fp32", "sgd") == 4 + 4
    assert mo.bytes_per_parameter("mixed", arch="llama-7b") == mo.bytes_per_parameter("mixed")


def test_the_qlora_anchors_hold():
    anchors = mo.qlora_anchors()
    assert mo.model_states(anchors["full"]) > 780e9 and anchors["full"].total > mo.model_states(anchors["full"])
    assert anchors["qlora"].total < 48e9 and anchors["qlora"].method == "qlora"


def test_format_costs_lists_every_part_and_the_fit():
    reports = mo.full_ft_costs(["gpt2", "llama-65b"])
    table = mo.format_costs(reports)
    assert f"{budget.count('llama-65b'):,}" in table and budget.human_bytes(reports[1].total) in table
    assert table.splitlines()[-1].endswith("24 GiB ✗ · 48 GiB ✗ · 80 GiB ✗")


def _run(label, init, size, seed, acc):
    return {"label": label, "init": init, "train_size": size, "seed": seed, "stage": "final", "status": "ok",
            "metrics": {"test_accuracy": acc}}


def test_pretraining_rows_compare_inits_with_their_noise():
    runs = [_run("full", "pretrained", None, s, a) for s, a in enumerate((0.85, 0.86, 0.84))]
    runs += [_run("full", "scratch", None, s, a) for s, a in enumerate((0.80, 0.81, 0.79))]
    runs += [_run("full", "pretrained", 100, s, a) for s, a in enumerate((0.70, 0.75, 0.65))]
    runs += [_run("full", "scratch", 100, s, a) for s, a in enumerate((0.69, 0.74, 0.64))]
    runs += [_run("tfidf", "none", None, 0, 0.83)]
    rows = mo.pretraining_rows({"runs": runs}, n_test=100_000)
    whole, small = rows
    assert whole["gap"] == pytest.approx(0.05) and whole["beyond_noise"] and whole["tfidf"]["mean"] == 0.83
    assert small["gap"] == pytest.approx(0.01) and not small["beyond_noise"] and small["tfidf"] is None
    assert whole["vs_tfidf"]["difference"] == pytest.approx(0.02) and small["vs_tfidf"] is None
    # the noise threshold is the suite's (experiments.noise): seeds and test set, so a small test set widens it
    assert mo.pretraining_rows({"runs": runs}, n_test=100)[0]["noise"] > whole["noise"]
    table = mo.format_pretraining(rows, n_train=5000)
    assert "5,000" in table and "+5.0" in table and "83.0" in table


def test_checkpoints_and_the_untouched_base(make_model):
    reference = make_model()
    lora = pl.apply(make_model(), pl.LoRAConfig(r=2))
    full = pl.apply(make_model(), pl.FullFineTuningConfig())
    for model in (lora, full):                  # pretend training moved every trainable number
        for p in model.parameters():
            if p.requires_grad:
                p.data.add_(0.1)
    assert mo.unchanged_share(lora, reference) == 1.0 and mo.unchanged_share(full, reference) == 0.0
    assert getattr(lora, "peft_config", None) is not None          # measured on a copy
    small, big = mo.checkpoint_bytes(lora), mo.checkpoint_bytes(full)
    trainable_lora = pl.count_parameters(lora)[0]
    assert 4 * trainable_lora < small < big and big > 4 * sum(p.numel() for p in reference.parameters())


def test_measured_vs_predicted_names_every_part(make_model):
    model = pl.apply(make_model(), pl.LoRAConfig(r=2))
    want = mo.predicted_for(model, 4, 16)

    class Result:
        memory = want
    table = mo.measured_vs_predicted({"lora": Result()}, {"lora": model}, 4, 16)
    assert table.count(f"{want.total:,}") == 2 and table.count("LoRA") == 1
