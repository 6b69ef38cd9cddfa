"""The comparison widgets: moving a weight slider re-ranks the measured methods, and each decision toggle
changes the recommendation the way its measurement says -- checked in Python, without a browser."""
import pytest

from peft_lab import widgets
from peft_lab.lessons import comparison as cmp
from test_lessons_comparison import N, methods, sizes


def first_method(html: str) -> str:
    return html.split("1. ", 1)[1].split("<", 1)[0]


def test_the_recommend_explorer_shows_the_ranking_of_its_weights():
    box = widgets.recommend_explorer(methods(), N, weights={"accuracy": 5, "memory": 0, "trainable_params": 0,
                                                            "train_speed": 0, "latency": 0})
    assert list(box.controls) == list(cmp.WEIGHTED)
    expected = cmp.ranking_with_noise(methods(), {c: s.value for c, s in box.controls.items()}, N)
    assert box.html.value == cmp.render_ranking(expected)
    box.controls["accuracy"].value = 1
    box.controls["memory"].value = 5
    assert first_method(box.html.value) == "small"


def test_all_weights_zero_says_so_instead_of_ranking():
    box = widgets.recommend_explorer(methods(), N)
    for slider in box.controls.values():
        slider.value = 0
    assert "at least one weight" in box.html.value and "1. " not in box.html.value


def test_unknown_weights_are_refused():
    with pytest.raises(ValueError, match="adapter_bytes"):
        widgets.recommend_explorer(methods(), N, weights={"adapter_bytes": 1})


def test_the_decision_explorer_follows_its_toggles():
    sweep = sizes({1000: {"lora": [0.70, 0.70], "full": [0.60, 0.60]}})
    box = widgets.decision_explorer(methods(), sweep, N)
    assert list(box.controls) == list(cmp.QUESTIONS)
    assert box.html.value == cmp.render_decision(cmp.decide(methods(), sweep, N))
    box.controls["small_data"].value = True
    assert "results/train_size.json" in box.html.value
    assert box.html.value == cmp.render_decision(cmp.decide(methods(), sweep, N, small_data=True))
    box.controls["memory_limited"].value = True
    assert "small" in box.html.value.split("推荐")[1]
