"""The shared injection mechanism: find targets, wrap them, freeze the rest, undo it exactly."""
import pytest
import torch
from torch import nn

import peft_lab as pl
from peft_lab.methods.lora import LoRALinear


def lora_layer_names(model):
    return sorted(n for n, m in model.named_modules() if isinstance(m, LoRALinear))


@pytest.mark.parametrize("targets, expected", [
    (("q_proj",), ["layers.0.self_attn.q_proj", "layers.1.self_attn.q_proj"]),                 # suffix
    (("layers.1.mlp.up_proj",), ["layers.1.mlp.up_proj"]),                                     # exact
    (r"layers\.0\.self_attn\.[qk]_proj", ["layers.0.self_attn.k_proj", "layers.0.self_attn.q_proj"]),  # regex
])
def test_targets_by_exact_name_suffix_and_regex(make_model, targets, expected):
    model = pl.apply(make_model(), pl.LoRAConfig(r=2, target_modules=targets))
    assert lora_layer_names(model) == expected


def test_all_linear_wraps_every_linear_but_the_head(make_model):
    model = make_model(n_layers=2)
    linears = sorted(n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n != "head")
    pl.apply(model, pl.LoRAConfig(r=2, target_modules="all-linear"))
    assert lora_layer_names(model) == linears and len(linears) == 12
    assert type(model.head) is nn.Linear


def test_suffix_matches_whole_name_parts_only(make_model):
    with pytest.raises(ValueError, match="matches no"):
        pl.apply(make_model(), pl.LoRAConfig(r=2, target_modules=("proj",)))  # "q_proj" does not end in ".proj"


def test_wrapper_holds_the_original_and_remove_restores_the_same_object(make_model, batch):
    model = make_model()
    ids, mask = batch
    before = model(ids, attention_mask=mask)
    originals = {n: model.get_submodule(n) for n in ("layers.0.self_attn.q_proj", "layers.1.self_attn.v_proj")}
    pl.apply(model, pl.LoRAConfig(r=2))
    for name, original in originals.items():
        assert model.get_submodule(name).base is original
    with torch.no_grad():
        for n, m in model.named_modules():
            if isinstance(m, LoRALinear):
                m.B.normal_()  # a non-zero update, so "restored" is not trivially true
    pl.remove(model)
    for name, original in originals.items():
        assert model.get_submodule(name) is original
    assert not lora_layer_names(model)
    assert all(p.requires_grad for p in model.parameters())
    assert model.peft_config is None
    assert torch.equal(model(ids, attention_mask=mask), before)
    pl.apply(model, pl.LoRAConfig(r=2))  # and the model can take a method again


def test_only_what_the_method_added_and_the_new_head_train(make_model):
    model = pl.apply(make_model(head="cls"), pl.LoRAConfig(r=2))
    added = {id(p) for m in model.modules() if isinstance(m, LoRALinear) for p in (m.A, m.B)}
    head = {id(p) for p in model.head.parameters()}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable == added | head


def test_a_pretrained_lm_head_stays_frozen(make_model):
    model = pl.apply(make_model(head="lm"), pl.LoRAConfig(r=2))
    assert not any(p.requires_grad for p in model.head.parameters())


class NamesThatLookLikeLoRA(nn.Module):
    """A foreign model whose own (frozen) weights are named like adapter weights."""

    def __init__(self):
        super().__init__()
        self.lora_A = nn.Linear(8, 8)
        self.B = nn.Parameter(torch.ones(8))
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        return self.proj(self.lora_A(x)) * self.B


def test_trainable_pieces_are_found_by_type_not_by_name():
    model = pl.apply(NamesThatLookLikeLoRA(), pl.LoRAConfig(r=2, target_modules=("proj",)))
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    assert trainable == ["proj.A", "proj.B"]


def test_count_parameters_is_base_plus_r_d_plus_k_per_target(make_model):
    model = make_model(head="cls", d_model=32, d_ff=64, n_layers=2)
    base_total = sum(p.numel() for p in model.parameters())
    head = sum(p.numel() for p in model.head.parameters())
    r = 3
    pl.apply(model, pl.LoRAConfig(r=r, target_modules=("q_proj", "up_proj")))
    per_layer = r * (32 + 32) + r * (64 + 32)  # q_proj 32 -> 32, up_proj 32 -> 64
    assert pl.count_parameters(model) == (2 * per_layer + head, base_total + 2 * per_layer)


def test_applying_twice_is_an_error(make_model):
    model = pl.apply(make_model(), pl.LoRAConfig(r=2))
    with pytest.raises(ValueError, match="already has lora applied"):
        pl.apply(model, pl.LoRAConfig(r=2))
    with pytest.raises(ValueError, match="already has lora applied"):
        pl.apply(model, pl.DyLoRAConfig(r=2))


def test_targets_that_match_nothing_name_the_modules_that_exist(make_model):
    model = make_model()
    with pytest.raises(ValueError) as err:
        pl.apply(model, pl.LoRAConfig(r=2, target_modules=("query", "value")))
    message = str(err.value)
    assert "target_modules=('query', 'value')" in message
    for name in ("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"):
        assert name in message
    assert getattr(model, "peft_config", None) is None
    assert not lora_layer_names(model)  # nothing was changed


def test_bad_arguments_to_apply_are_type_errors(make_model):
    with pytest.raises(TypeError, match="config must be a PEFT config"):
        pl.apply(make_model(), {"r": 8})
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        pl.apply("model", pl.LoRAConfig())


def encoder_layer():
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=24, dropout=0.0,
                                      batch_first=True).eval()


def test_works_on_a_model_that_is_not_ours():
    layer = encoder_layer()
    x = torch.randn(2, 5, 16)
    before = layer(x)
    linear1, linear2 = layer.linear1, layer.linear2
    total = sum(p.numel() for p in layer.parameters())
    pl.apply(layer, pl.LoRAConfig(r=4, target_modules=("linear1", "linear2")))
    # B = 0 (not bit-equal only because frozen attention weights let MultiheadAttention take its fast path)
    torch.testing.assert_close(layer(x), before, atol=1e-6, rtol=1e-6)
    added = 4 * (16 + 24) + 4 * (24 + 16)
    assert pl.count_parameters(layer) == (added, total + added)
    with torch.no_grad():
        layer.linear1.B.normal_()
    changed = layer(x)
    assert not torch.allclose(changed, before)
    with torch.no_grad():  # eval + no_grad: the layer's fast path reads .weight instead of calling linear1
        torch.testing.assert_close(layer(x), changed, atol=1e-5, rtol=1e-5)
    pl.merge(layer)
    torch.testing.assert_close(layer(x), changed, atol=1e-5, rtol=1e-5)
    pl.unmerge(layer)
    pl.remove(layer)
    assert layer.linear1 is linear1 and layer.linear2 is linear2
    torch.testing.assert_close(layer(x), before, atol=1e-6, rtol=1e-6)


def test_multihead_attention_out_proj_is_rejected_with_a_reason():
    layer = encoder_layer()
    with pytest.raises(ValueError, match="MultiheadAttention.*linear1"):
        pl.apply(layer, pl.LoRAConfig(r=2, target_modules=("out_proj",)))
