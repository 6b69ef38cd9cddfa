"""The bottleneck explorer: its numbers are the instantiated adapters' counts, and its figure is the
measured sweep with the slider's m marked -- moving the slider changes what is drawn."""
import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from helpers import check_slider_moves_only_the_mark, shown_png  # noqa: E402

import peft_lab as pl  # noqa: E402
from peft_lab import budget, widgets  # noqa: E402
from peft_lab.experiments import load_results  # noqa: E402
from peft_lab.methods.adapter import Bottleneck  # noqa: E402


@pytest.mark.parametrize("d, m", [(128, 1), (128, 32), (768, 64), (96, 95)])
def test_one_adapter_counts_2dm_plus_d_plus_m_as_the_module_does(d, m):
    module_count = sum(p.numel() for p in Bottleneck(d, m, "relu").parameters())
    arch = budget.tiny_from(pl.ModelConfig(d_model=d, n_layers=1, n_heads=1, d_ff=2 * d))
    assert widgets.bottleneck_view(m, arch, "pfeiffer")["per_adapter"] == module_count


@pytest.mark.parametrize("placement", ["houlsby", "pfeiffer", "parallel"])
def test_the_view_of_the_tiny_preset_is_what_apply_trains_besides_the_head(placement):
    model = pl.apply(pl.load_pretrained(head="cls", num_labels=2), pl.AdapterConfig(bottleneck=16, placement=placement))
    head = sum(p.numel() for p in model.head.parameters())
    v = widgets.bottleneck_view(16, "tiny", placement)
    assert v["trainable"] + head == pl.count_parameters(model)[0]
    assert v["adapters"] == sum(isinstance(m, Bottleneck) for m in model.modules())


def test_without_a_sweep_the_explorer_draws_nothing():
    box = widgets.bottleneck_explorer("tiny", m=8)
    assert box.plot.outputs == ()
    assert f"{budget.count('tiny', pl.AdapterConfig(bottleneck=8)):,}" in box.html.value


def test_the_slider_moves_the_mark_on_the_measured_sweep():
    sweep = load_results("adapter_bottleneck")
    box = widgets.bottleneck_explorer("tiny", m=8, sweep=sweep)
    check_slider_moves_only_the_mark(box, "m", 8, 48, f"{budget.count('tiny', pl.AdapterConfig(bottleneck=48)):,}")


def test_the_placement_changes_the_numbers_and_keeps_the_sweep():
    sweep = load_results("adapter_bottleneck")
    box = widgets.bottleneck_explorer("bert-base", m=64, sweep=sweep)
    houlsby = box.html.value
    box.controls["placement"].value = "pfeiffer"
    assert box.html.value != houlsby
    assert f"{budget.count('bert-base', pl.AdapterConfig(bottleneck=64, placement='pfeiffer')):,}" in box.html.value
    assert box.controls["m"].max == budget.get("bert-base").d_model - 1
    assert shown_png(box.plot)

