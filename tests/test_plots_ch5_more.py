"""plots.ch5_more.accuracy_vs_cost draws what it is given: one point per method at (mean cost, mean
accuracy), error bars only where there are several seeds, a log axis for counts and a linear one for memory."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from peft_lab.plots import ch5_more  # noqa: E402
from test_lessons_comparison import methods, results  # noqa: E402


def points(fig) -> set[tuple[float, float]]:
    ax = fig.axes[0]
    return {(round(float(x), 6), round(float(y), 6)) for line in ax.lines if line.get_marker() == "o"
            for x, y in line.get_xydata()}


def test_memory_points_are_the_means_in_mib_on_a_linear_axis():
    fig = ch5_more.accuracy_vs_cost(methods(), "memory.total")
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and "MiB" in ax.get_xlabel()
    assert (round(2e8 / 2**20, 6), round(np.mean([0.80, 0.81, 0.80]), 6)) in points(fig)
    assert len(points(fig)) == 4
    assert any(isinstance(c, LineCollection) for c in ax.collections)   # error bars: three seeds each
    plt.close(fig)


def test_counts_go_on_a_log_axis_and_one_seed_draws_no_error_bar():
    one = results({"full": ([0.8], {"trainable_params": 10_000}), "lora": ([0.7], {"trainable_params": 50})})
    fig = ch5_more.accuracy_vs_cost(one, "trainable_params")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and points(fig) == {(10_000.0, 0.8), (50.0, 0.7)}
    assert not any(isinstance(c, LineCollection) for c in ax.collections)
    plt.close(fig)


def test_labels_restrict_the_methods_and_bad_input_is_named():
    fig = ch5_more.accuracy_vs_cost(methods(), "memory.total", labels=["full", "small"])
    assert len(points(fig)) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="cost='latency'"):
        ch5_more.accuracy_vs_cost(methods(), "latency")
    with pytest.raises(ValueError, match="memory.total"):
        ch5_more.accuracy_vs_cost(results({"full": ([0.8], {"memory": None})}), "memory.total")
