"""03_adapter's FLOPs share follows from the shapes: built on constructed architectures, never on the committed numbers."""
import pytest

import peft_lab as pl
from peft_lab.lessons import adapter as lesson


def arch(d=128, n_layers=4):
    return pl.budget.tiny_from(pl.ModelConfig(d_model=d, n_layers=n_layers, n_heads=1, d_ff=4 * d))


def test_share_grows_linearly_with_the_bottleneck_and_the_adapters_per_layer():
    one = lesson.forward_flops_share(arch(), m=16)
    assert lesson.forward_flops_share(arch(), m=32)["share"] == pytest.approx(2 * one["share"])
    assert lesson.forward_flops_share(arch(), m=16, adapters_per_layer=1)["share"] == pytest.approx(one["share"] / 2)


def test_share_does_not_depend_on_depth_but_the_textbook_ratio_only_on_m_over_d():
    shallow, deep = (lesson.forward_flops_share(arch(n_layers=n), m=32) for n in (2, 12))
    assert shallow["share"] == pytest.approx(deep["share"])          # adapters and base both scale with the layers
    wide = lesson.forward_flops_share(arch(d=256), m=64)
    assert wide["textbook"] == shallow["textbook"] == 2 * 32 / 128
    assert wide["d"] == 256 and wide["m"] == 64


def test_one_adapter_costs_a_down_and_an_up_projection():
    f = lesson.forward_flops_share(arch(d=64), m=8)
    assert f["per_adapter"] == pl.budget.linear_flops(8, 64).forward + pl.budget.linear_flops(64, 8).forward
    assert 0 < f["share"] < f["textbook"]       # the base counts every linear of the block, the 4d-wide FFN too


@pytest.mark.parametrize("kwargs, name", [(dict(m=0), "m=0"), (dict(m=True), "m=True"),
                                          (dict(adapters_per_layer=-1), "adapters_per_layer=-1")])
def test_bad_sizes_are_refused_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        lesson.forward_flops_share(arch(), **kwargs)
