"""English mode for the widgets: every public widget (found by inspection) shows its labels --
descriptions, button texts, option labels, and the text of its HTML views after every control has
been used -- in the language chosen, with no Chinese character left in English and no raw
language-table key or English entry in Chinese. Checked on the widget tree, without a browser."""
import html
import inspect
import re

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import torch  # noqa: E402

import peft_lab as pl  # noqa: E402
from peft_lab import widgets  # noqa: E402
from helpers import cjk_characters, untranslated  # noqa: E402
from test_lessons_comparison import N, methods, sizes  # noqa: E402


@pytest.fixture(autouse=True)
def _zh():
    yield
    pl.set_language("zh")


def public_widgets() -> dict:
    """Every public function of ``peft_lab.widgets`` that returns a widget box, by name."""
    return {name: fn for name, fn in inspect.getmembers(widgets, inspect.isfunction)
            if fn.__module__ == widgets.__name__ and not name.startswith("_")
            and inspect.signature(fn).return_annotation == "ipywidgets.VBox"}


def fake_fit(model, task, hooks=(), progress=True, steps=3, **kwargs):
    for step in range(steps):
        for h in hooks:
            h.after_step(model, step)
    return pl.RunResult("lora", {}, task, 0, steps, 1e-3, {"test_accuracy": 0.5}, 10, 100, 0.01, 0.1,
                        history=[{"step": s, "loss": 1.0 / (s + 1)} for s in range(steps)])


def builders() -> dict:
    """Each public widget, built small (no figure where the widget can skip it: figures are the
    plotting functions', checked in test_plots)."""
    sweep = sizes({1000: {"lora": [0.70, 0.70], "full": [0.60, 0.60]}})
    return {
        "rank_explorer": lambda: widgets.rank_explorer(figure=False),
        "bottleneck_explorer": lambda: widgets.bottleneck_explorer("tiny"),
        "prefix_explorer": lambda: widgets.prefix_explorer("tiny"),
        "memory_calculator": lambda: widgets.memory_calculator(figure=False),
        "train_button": lambda: widgets.train_button(lambda r: torch.nn.Linear(2, 2), fit=fake_fit, steps=3,
                                                     sliders={"r": (8, 1, 16)}),
        "recommend_explorer": lambda: widgets.recommend_explorer(methods(), N),
        "decision_explorer": lambda: widgets.decision_explorer(methods(), sweep, N),
    }


def use_every_control(box) -> list[str]:
    """Set every choice control to each of its options in turn (the HTML view's text after each
    is collected), then the first option again; click the button of a train box."""
    shown = []
    for control in getattr(box, "controls", {}).values():
        options = getattr(control, "options", None)
        if options:
            values = [o[1] if isinstance(o, tuple) else o for o in options]
            for value in values[1:] + values[:1]:
                control.value = value
                shown += html_texts(box)
    if getattr(box, "button", None) is not None:
        box.button.click()
    return shown


def html_texts(widget) -> list[str]:
    """The text pieces between the tags of every HTML or Label widget under ``widget``."""
    out = []
    if type(widget).__name__ in ("HTML", "HTMLMath", "Label"):
        out += [html.unescape(piece).strip() for piece in re.split(r"<[^>]+>", widget.value)]
    for child in getattr(widget, "children", ()):
        out += html_texts(child)
    return [s for s in out if s]


def labels(widget) -> list[str]:
    """Descriptions, tooltips, button texts and option labels of ``widget`` and everything under it."""
    out = [v for attr in ("description", "tooltip", "placeholder")
           if isinstance(v := getattr(widget, attr, None), str) and v]
    out += list(getattr(widget, "_options_labels", ()))
    for child in getattr(widget, "children", ()):
        out += labels(child)
    return out


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_widget_speaks_the_language_chosen(language):
    build = builders()
    assert set(public_widgets()) == set(build), f"add a builder for {set(public_widgets()) - set(build)}"
    pl.set_language(language)
    for name, make in build.items():
        box = make()
        shown = html_texts(box) + use_every_control(box) + html_texts(box) + labels(box)
        assert labels(box) and len(shown) > len(labels(box)), name      # the labels and the views were read
        if language == "en":
            chinese = [s for s in shown if cjk_characters(s)]
            assert not chinese, (name, chinese)
        else:
            raw = [s for s in shown if untranslated(s)]
            assert not raw, (name, raw)


def test_choices_show_display_names_but_keep_their_values():
    pl.set_language("en")
    box = widgets.memory_calculator("gpt2", "qlora", figure=False)
    method, precision = box.controls["method"], box.controls["precision"]
    assert method.value == "qlora" and method.label == pl.i18n.t("qlora")
    precision.value = "mixed"
    assert precision.label == "mixed precision" and box.html.value
    placement = widgets.bottleneck_explorer("tiny").controls["placement"]
    assert placement.value == "houlsby" and placement.label == pl.i18n.t("adapter_houlsby")
    decision = widgets.decision_explorer(methods(), sizes({1000: {"lora": [0.7, 0.7], "full": [0.6, 0.6]}}), N)
    assert decision.controls["small_data"].options == (("no", False), ("yes", True))
    decision.controls["small_data"].value = True
    assert "Evidence: results/train_size.json" in decision.html.value and "Recommended:" in decision.html.value
