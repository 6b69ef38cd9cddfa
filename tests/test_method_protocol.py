"""The method protocol (``methods.base.PeftConfig``): what the package asks of a method, with
defaults, and that a new method needs only its module and one registry entry."""
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from torch import nn

import peft_lab as pl
from peft_lab import budget, i18n
from peft_lab.methods import adalora, dylora
from peft_lab.methods.base import Display, PeftConfig, PeftLayer, find_targets, inject
from peft_lab.plots import style


class OutputScale(PeftLayer):
    """A toy method for the test: one learned scale per output feature, after the layer."""

    def __init__(self, base: nn.Linear):
        super().__init__(base)
        self.g = nn.Parameter(torch.ones(base.out_features))

    def forward(self, x):
        return self.base(x) * self.g


@dataclass
class OutputScaleConfig(PeftConfig):
    target_modules: tuple = ("v_proj",)

    method = "output_scale"
    labels: ClassVar[dict[str, Display]] = {"output_scale": Display("#123456", "输出缩放", "Output scale")}

    def apply(self, model):
        inject(model, find_targets(model, self.target_modules), lambda module, name: OutputScale(module))

    def trainable_parameters(self, arch, num_labels=None, folded=False):
        return sum(m.count * m.linear.out_features for m in budget.select(arch, self.target_modules)), 0


@pytest.fixture
def registered(monkeypatch):
    """The one line a new method adds: its config in the registry."""
    monkeypatch.setitem(pl.REGISTRY, OutputScaleConfig.method, OutputScaleConfig)
    return OutputScaleConfig


def test_a_new_method_is_its_module_and_one_registry_entry(registered, make_model, batch, tmp_path):
    ids, mask = batch
    model = make_model()
    before = model(ids, attention_mask=mask)
    pl.apply(model, registered())
    assert pl.methods.training_hooks(model) == []                           # defaults of the protocol
    arch = budget.tiny_from(model.config)
    assert budget.count(arch, registered(), num_labels=model.config.num_labels) == pl.count_parameters(model)[0]
    with torch.no_grad():
        model.layers[0].self_attn.v_proj.g.mul_(1.5)
    pl.save_adapter(model, tmp_path)
    loaded = pl.load_adapter(make_model(), tmp_path)
    torch.testing.assert_close(loaded(ids, attention_mask=mask), model(ids, attention_mask=mask))
    pl.remove(model)
    torch.testing.assert_close(model(ids, attention_mask=mask), before)


def test_an_unregistered_config_is_refused_before_anything_changes(make_model):
    model = make_model()
    with pytest.raises(ValueError, match="unknown PEFT method 'output_scale'"):
        pl.apply(model, OutputScaleConfig())
    assert not pl.methods.peft_layers(model) and getattr(model, "peft_config", None) is None


def test_a_config_without_apply_says_what_is_missing(make_model):
    @dataclass
    class Incomplete(PeftConfig):
        method = "lora"   # a registered name, so only the missing apply is wrong
    with pytest.raises(NotImplementedError, match="must define apply"):
        Incomplete().apply(make_model())


@pytest.mark.parametrize("config, hook", [(pl.DyLoRAConfig(r=4), dylora.RankSampler),
                                          (pl.AdaLoRAConfig(init_r=4, target_r=2), adalora.RankAllocator)])
def test_training_hooks_come_from_the_applied_method(make_model, config, hook):
    model = make_model()
    assert pl.methods.training_hooks(model) == []                            # no method applied
    pl.apply(model, config)
    assert [type(h) for h in pl.methods.training_hooks(model)] == [hook]
    assert pl.methods.training_hooks(pl.apply(make_model(), pl.LoRAConfig(r=2))) == []


def test_every_label_a_method_declares_has_its_colour_and_both_names():
    for config in pl.REGISTRY.values():
        assert config.method in config.labels, config.__name__   # at least the registry name itself
        for label, shown in config.labels.items():
            assert style.color(label) == shown.colour
            assert i18n.TEXT[label] == {"zh": shown.zh, "en": shown.en}


def test_budget_lists_the_registry():
    assert budget.METHODS == tuple(pl.REGISTRY)
