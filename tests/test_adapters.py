"""Bottleneck adapters: identity at init, exact counts, placements, any model, errors, save/load."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import peft_lab as pl
from peft_lab.methods.adapter import ParallelAdapter, SequentialAdapter
from peft_lab.methods.base import peft_layers

D, M = 32, 8   # the fixture model's width and the bottleneck used below



def per_adapter(d, m):
    return 2 * d * m + d + m   # W_down (m x d) + b_down (m) + W_up (d x m) + b_up (d)


def randomize_adapters(model, seed=1):
    """Give every adapter non-zero weights (as training would) so its effect is visible."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in peft_layers(model):
            for p in layer.added_parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


@pytest.mark.parametrize("placement", ["houlsby", "pfeiffer", "parallel"])
def test_adapters_start_as_the_identity(make_model, batch, placement):
    model = make_model(head="token")
    ids, mask = batch
    before = model(ids, attention_mask=mask)
    pl.apply(model, pl.AdapterConfig(bottleneck=M, placement=placement))
    torch.testing.assert_close(model(ids, attention_mask=mask), before, rtol=0, atol=0)
    randomize_adapters(model)   # ... and they are not ignored once they have weights
    assert not torch.allclose(model(ids, attention_mask=mask), before)


@pytest.mark.parametrize("placement,wrapped,per_layer", [
    ("houlsby", {"o_proj", "down_proj"}, 2), ("pfeiffer", {"down_proj"}, 1), ("parallel", {"mlp"}, 1)])
def test_count_is_2dm_plus_d_plus_m_per_adapter(make_model, placement, wrapped, per_layer):
    n_layers = 3
    model = make_model(head="lm", n_layers=n_layers)   # a pretrained LM head stays frozen: only adapters train
    _, total_before = pl.count_parameters(model)
    pl.apply(model, pl.AdapterConfig(bottleneck=M, placement=placement))
    layers = peft_layers(model)
    assert {name.rsplit(".", 1)[-1] for name, _ in layers} == wrapped
    assert len(layers) == per_layer * n_layers
    for _, layer in layers:
        assert sum(p.numel() for p in layer.added_parameters()) == per_adapter(D, M)
    trainable, total = pl.count_parameters(model)
    assert trainable == per_layer * n_layers * per_adapter(D, M) == total - total_before


def test_sequential_adapter_reads_the_wrapped_modules_output_parallel_its_input():
    torch.manual_seed(0)
    base, x = nn.Linear(6, 6), torch.randn(3, 6)
    seq, par = SequentialAdapter(base, 6, 2, "relu"), ParallelAdapter(base, 6, 2, "relu", scale=0.5)
    randomize_adapters(nn.ModuleList([seq, par]))
    torch.testing.assert_close(seq(x), base(x) + seq.adapter(base(x)))
    torch.testing.assert_close(par(x), base(x) + 0.5 * par.adapter(x))


def test_parallel_scale_multiplies_the_adapter_branch(make_model):
    x = torch.randn(2, 5, D)
    branch = {}
    for scale in (1.0, 3.0):
        model = pl.apply(make_model(), pl.AdapterConfig(bottleneck=M, placement="parallel", scale=scale))
        randomize_adapters(model, seed=1)   # the same adapter weights for both scales
        mlp = model.layers[0].mlp
        branch[scale] = mlp(x) - mlp.base(x)
    assert branch[1.0].abs().max() > 0
    torch.testing.assert_close(branch[3.0], 3.0 * branch[1.0])


def test_activation_choice_is_used(make_model):
    for name, cls in (("relu", nn.ReLU), ("gelu", nn.GELU), ("silu", nn.SiLU)):
        model = pl.apply(make_model(), pl.AdapterConfig(bottleneck=M, activation=name))
        assert all(isinstance(layer.adapter.act, cls) for _, layer in peft_layers(model))


def test_adapters_cannot_be_merged(make_model):
    model = pl.apply(make_model(), pl.AdapterConfig(bottleneck=M))
    with pytest.raises(ValueError, match="cannot be merged"):
        pl.merge(model)


def test_works_on_any_model_with_d_to_d_targets():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
    model.peft_head_modules = ("4",)
    x = torch.randn(5, 8)
    before, hidden = model(x), model[2]
    pl.apply(model, pl.AdapterConfig(bottleneck=4, placement="pfeiffer", target_modules=("2",)))
    torch.testing.assert_close(model(x), before, rtol=0, atol=0)
    trainable, _ = pl.count_parameters(model)
    assert trainable == per_adapter(16, 4) + 16 * 3 + 3   # the adapter and the new head
    pl.remove(model)
    assert model[2] is hidden   # the very same module object is back


def test_remove_restores_the_original_modules_and_outputs(make_model, batch):
    model = make_model(head="token")
    ids, mask = batch
    before, o_proj = model(ids, attention_mask=mask), model.layers[0].self_attn.o_proj
    pl.apply(model, pl.AdapterConfig(bottleneck=M))
    randomize_adapters(model)
    pl.remove(model)
    assert model.layers[0].self_attn.o_proj is o_proj and not peft_layers(model)
    torch.testing.assert_close(model(ids, attention_mask=mask), before, rtol=0, atol=0)


@pytest.mark.parametrize("placement", ["houlsby", "pfeiffer", "parallel"])
def test_training_lowers_the_loss_and_leaves_the_base_untouched(make_model, placement):
    model = make_model(head="lm")
    pl.apply(model, pl.AdapterConfig(bottleneck=M, placement=placement))
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    ids = torch.randint(5, 50, (8, 12), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-2)
    losses = []
    for _ in range(20):   # a tiny synthetic task: always predict character 7
        loss = F.cross_entropy(model(ids).flatten(0, 1), torch.full((ids.numel(),), 7))
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.99 * losses[0]
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)


@pytest.mark.parametrize("placement", ["houlsby", "parallel"])
def test_save_and_load_is_bit_identical(make_model, batch, tmp_path, placement):
    ids, mask = batch
    model = pl.apply(make_model(head="cls"), pl.AdapterConfig(bottleneck=M, placement=placement,
                                                             activation="gelu"))
    randomize_adapters(model)
    with torch.no_grad():
        model.head.weight.add_(1.0)   # as after training: the new head differs from a fresh one
    pl.save_adapter(model, tmp_path)
    loaded = pl.load_adapter(make_model(head="cls"), tmp_path)
    assert loaded.peft_config == model.peft_config
    assert torch.equal(loaded(ids, attention_mask=mask), model(ids, attention_mask=mask))


@pytest.mark.parametrize("kwargs,message", [
    ({"bottleneck": 0}, "bottleneck=0"),
    ({"bottleneck": -4}, "bottleneck=-4"),
    ({"bottleneck": 2.5}, "bottleneck=2.5"),
    ({"placement": "middle"}, "placement='middle' is not one of"),
    ({"activation": "tanh"}, "activation='tanh' is not one of"),
    ({"scale": 0}, "scale=0"),
    ({"placement": "houlsby", "scale": 2.0}, "only applies to placement='parallel'"),
])
def test_bad_config_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pl.AdapterConfig(**kwargs)


def test_bottleneck_not_smaller_than_the_width_is_a_clear_error(make_model):
    with pytest.raises(ValueError, match=r"bottleneck=32 must be smaller than the width d=32"):
        pl.apply(make_model(), pl.AdapterConfig(bottleneck=D))


def test_target_errors_name_the_problem(make_model):
    with pytest.raises(ValueError, match="matches no Linear module.*module names that exist"):
        pl.apply(make_model(), pl.AdapterConfig(bottleneck=M, target_modules=("dense",)))
    with pytest.raises(ValueError, match="needs a d -> d target.*maps 32 -> 64"):
        pl.apply(make_model(), pl.AdapterConfig(bottleneck=M, placement="parallel", target_modules=("up_proj",)))
    with pytest.raises(ValueError, match="inside"):
        pl.apply(make_model(), pl.AdapterConfig(bottleneck=M, placement="parallel",
                                                target_modules=r"layers\.0(\.mlp)?"))


def test_applying_twice_is_a_clear_error(make_model):
    model = pl.apply(make_model(), pl.AdapterConfig(bottleneck=M))
    with pytest.raises(ValueError, match="already has adapter applied"):
        pl.apply(model, pl.AdapterConfig(bottleneck=M, placement="pfeiffer"))
