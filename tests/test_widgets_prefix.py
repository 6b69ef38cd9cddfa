"""The prefix-length explorer: its numbers are what the four soft-prompt designs instantiate, and its
figure is the measured length sweep with the slider's L marked -- moving the slider changes what is drawn."""
import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from helpers import check_slider_moves_only_the_mark, shown_png  # noqa: E402

import peft_lab as pl  # noqa: E402
from peft_lab import budget, widgets  # noqa: E402
from peft_lab.experiments import load_results  # noqa: E402
from peft_lab.plots.ch4_prompts import design_configs  # noqa: E402


def soft_prompt_params(model) -> int:
    return sum(p.numel() for p in model.soft_prompt.parameters())


@pytest.mark.parametrize("L", [1, 7, 16])
def test_the_view_counts_what_each_design_instantiates_before_and_after_folding(L):
    v = widgets.prefix_view(L, "tiny")
    for design, config in design_configs(L).items():
        model = pl.apply(pl.load_pretrained(head="cls", num_labels=2), config)
        assert v["designs"][design]["trained"] == soft_prompt_params(model), design
        if design in ("p_tuning", "prefix_tuning"):
            pl.fold(model)
        assert v["designs"][design]["kept"] == soft_prompt_params(model), design


def test_prefix_tuning_keeps_L_times_2_times_layers_times_d_not_the_chapters_L_times_d_times_2():
    arch = budget.get("tiny")
    kept = widgets.prefix_view(10, arch)["designs"]["prefix_tuning"]["kept"]
    assert kept == 10 * 2 * arch.n_layers * arch.d_model
    assert kept != 10 * arch.d_model * 2   # the chapter's formula misses the layers (n_layers > 1 here)


def test_without_a_sweep_the_explorer_draws_nothing():
    box = widgets.prefix_explorer("tiny", L=8)
    assert box.plot.outputs == ()
    assert f"{budget.count('tiny', pl.PrefixTuningConfig(num_virtual_tokens=8)):,}" in box.html.value


def test_the_slider_moves_the_mark_on_the_measured_sweep():
    sweep = load_results("prefix_length")
    box = widgets.prefix_explorer("tiny", L=4, sweep=sweep)
    check_slider_moves_only_the_mark(box, "L", 4, 32, f"{budget.count('tiny', pl.PTuningV2Config(num_virtual_tokens=32)):,}")


def test_a_larger_preset_keeps_the_tiny_sweep_and_its_own_slider_range():
    box = widgets.prefix_explorer("gpt2", L=20, sweep=load_results("prefix_length"))
    assert box.controls["L"].max == min(budget.get("gpt2").max_len - 1, 256)
    assert f"{budget.count('gpt2', pl.PTuningV2Config(num_virtual_tokens=20)):,}" in box.html.value
    assert shown_png(box.plot)


def test_a_bad_length_is_refused_by_name():
    with pytest.raises(ValueError, match="L=0"):
        widgets.prefix_view(0)
