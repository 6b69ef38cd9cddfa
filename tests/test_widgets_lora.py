"""The LoRA notebook's widgets: the rank explorer marks the slider's r on the measured rank sweep
(redrawn when r moves, not when α does), and the train button trains at the rank its slider shows."""
import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from helpers import shown_png  # noqa: E402

import peft_lab as pl  # noqa: E402
from peft_lab import widgets  # noqa: E402
from peft_lab.experiments import load_results  # noqa: E402


@pytest.fixture(scope="module")
def sweep():
    return load_results("lora_rank")


def test_the_rank_explorer_marks_the_chosen_rank_on_the_measured_sweep(sweep):
    box = widgets.rank_explorer(figure=False, results=sweep)
    at_8 = shown_png(box.sweep)
    box.controls["alpha"].value = 32          # α changes the numbers, not the measured sweep
    assert shown_png(box.sweep) == at_8
    assert box.html.value == widgets.render_rank(widgets.rank_view(8, 32, 128, 128))
    box.controls["r"].value = 32
    at_32 = shown_png(box.sweep)
    assert at_32 != at_8
    box.controls["r"].value = 8               # the same r draws the same figure again
    assert shown_png(box.sweep) == at_8
    assert box.sweep in box.children


def test_without_results_the_rank_explorer_draws_no_sweep():
    box = widgets.rank_explorer(figure=False)
    assert box.sweep is None and len(box.children) == 4


def _fake_fit(calls):
    def fit(model, task, hooks=(), progress=True, steps=3, **kwargs):
        history = []
        for step in range(steps):
            for h in hooks:
                h.after_step(model, step)
            history.append({"step": step, "loss": 1.0 / (step + 1)})
        calls.append(model)
        return pl.RunResult("lora", {}, task, 0, steps, 1e-3, {"test_accuracy": 0.5}, 10, 100, 0.01, 0.1,
                            history=history)
    return fit


def test_the_train_button_builds_the_model_at_the_slider_values(make_model):
    calls, built = [], []

    def make(r):
        built.append(r)
        return pl.apply(make_model(d_model=32), pl.LoRAConfig(r=r, alpha=16))

    box = widgets.train_button(make, fit=_fake_fit(calls), sliders={"r": (8, 1, 16)}, steps=3)
    assert box.controls["r"].value == 8 and box.controls["r"] in box.children[0].children
    box.controls["r"].value = 4
    box.button.click()
    assert built == [4]
    assert {layer.r for _, layer in pl.methods.base.peft_layers(calls[0])} == {4}
    assert box.result.steps == 3 and box.progress.value == 3


def test_the_train_button_without_sliders_calls_make_model_without_arguments(make_model):
    calls = []
    box = widgets.train_button(lambda: make_model(), fit=_fake_fit(calls), steps=2)
    box.button.click()
    assert len(calls) == 1 and box.controls == {}


@pytest.mark.parametrize("spec", [(8, 1), (0, 1, 16), (8, 16, 1), (8.0, 1, 16), "8"])
def test_a_malformed_slider_is_refused_by_name(make_model, spec):
    with pytest.raises(ValueError, match=r"sliders\['r'\]=.* must be \(value, min, max\)"):
        widgets.train_button(lambda r: make_model(), sliders={"r": spec})
