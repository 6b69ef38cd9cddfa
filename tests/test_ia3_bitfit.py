"""IA3 (identity at init, what it rescales, exact merge, HF's count) and BitFit (only biases train)."""
import pytest
import torch
from helpers import train_to_say_7
from torch import nn

import peft_lab as pl
from peft_lab.methods.base import peft_layers

D, D_FF, N_LAYERS = 32, 64, 2   # the fixture model's shape



def randomize_ia3(model, seed=1):
    """IA3 vectors away from 1, as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in peft_layers(model):
            layer.l.copy_(1 + 0.5 * torch.randn(layer.l.shape, generator=g))


# ----------------------------------------------------------------------------- IA3

def test_ia3_starts_as_the_identity(make_model, batch):
    ids, mask = batch
    model = make_model(head="token")
    before = model(ids, attention_mask=mask)
    pl.apply(model, pl.IA3Config())
    torch.testing.assert_close(model(ids, attention_mask=mask), before, rtol=0, atol=0)
    randomize_ia3(model)
    assert not torch.allclose(model(ids, attention_mask=mask), before)


def test_ia3_rescales_keys_values_and_the_ffn_hidden_activations(make_model):
    model = pl.apply(make_model(), pl.IA3Config())
    randomize_ia3(model)
    attn, mlp = model.layers[0].self_attn, model.layers[0].mlp
    x, hidden = torch.randn(3, D), torch.randn(3, D_FF)
    for proj in (attn.k_proj, attn.v_proj):   # l ⊙ (W x + b): the output is rescaled
        torch.testing.assert_close(proj(x), proj.l * proj.base(x))
    torch.testing.assert_close(mlp.down_proj(hidden), mlp.down_proj.base(mlp.down_proj.l * hidden))
    assert mlp.down_proj.l.shape == (D_FF,) and attn.k_proj.l.shape == (D,)


def test_ia3_count_is_the_sum_of_the_vector_sizes(make_model):
    model = pl.apply(make_model(head="lm"), pl.IA3Config())
    assert pl.count_parameters(model)[0] == N_LAYERS * (D + D + D_FF)   # l_k, l_v (outputs), l_ff (input)


def test_ia3_without_feedforward_modules_rescales_outputs_only(make_model):
    model = pl.apply(make_model(head="lm"), pl.IA3Config(target_modules=("k_proj", "down_proj"),
                                                         feedforward_modules=[]))
    assert pl.count_parameters(model)[0] == N_LAYERS * (D + D)   # down_proj's output is d wide
    assert not any(layer.feedforward for _, layer in peft_layers(model))


def test_ia3_count_agrees_with_hf_peft(make_model):
    import peft  # the dev extra installs it: HF PEFT is the reference these counts must match
    hf = peft.inject_adapter_in_model(
        peft.IA3Config(target_modules=["k_proj", "v_proj", "down_proj"], feedforward_modules=["down_proj"]),
        make_model(head="lm"))
    hf_count = sum(m.ia3_l["default"].numel() for m in hf.modules() if isinstance(m, peft.tuners.ia3.IA3Layer))
    model = pl.apply(make_model(head="lm"), pl.IA3Config())
    assert pl.count_parameters(model)[0] == hf_count


def test_ia3_merge_and_unmerge_are_exact(make_model, batch):
    ids, mask = batch
    model = make_model(head="token")
    with torch.no_grad():   # non-zero biases, as in a pretrained model (the fixture starts them at 0)
        for m in model.modules():
            if isinstance(m, nn.Linear) and m.bias is not None:
                m.bias.normal_(0, 0.1)
    pl.apply(model, pl.IA3Config())
    randomize_ia3(model)
    W0 = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    unmerged = model(ids, attention_mask=mask)
    pl.merge(model)
    assert all(layer.merged for _, layer in peft_layers(model))
    torch.testing.assert_close(model(ids, attention_mask=mask), unmerged, rtol=1e-5, atol=1e-6)
    changed = [n for n, p in model.named_parameters() if n in W0 and not torch.equal(p, W0[n])]
    assert any(n.endswith("k_proj.base.bias") for n in changed)        # output scaling reaches the bias
    assert not any(n.endswith("down_proj.base.bias") for n in changed)  # input scaling does not
    pl.unmerge(model)
    for n, p in model.named_parameters():
        if n in W0:
            torch.testing.assert_close(p, W0[n], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(model(ids, attention_mask=mask), unmerged, rtol=1e-5, atol=1e-6)


def test_ia3_works_on_any_model_and_remove_restores_it():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8))
    x, first = torch.randn(4, 8), model[0]
    before = model(x)
    pl.apply(model, pl.IA3Config(target_modules=("0", "2"), feedforward_modules=("2",)))
    assert pl.count_parameters(model)[0] == 16 + 16   # output of "0", input of "2"
    torch.testing.assert_close(model(x), before, rtol=0, atol=0)
    pl.remove(model)
    assert model[0] is first and not peft_layers(model)


@pytest.mark.parametrize("kwargs,message", [
    ({"target_modules": ("k_proj", "v_proj")}, r"feedforward_modules=\('down_proj',\) must be a subset"),
    ({"target_modules": ()}, "target_modules=.* must name at least one module"),
])
def test_ia3_bad_config_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pl.IA3Config(**kwargs)


def test_ia3_target_errors_and_applying_twice(make_model):
    with pytest.raises(ValueError, match="matches no Linear.*module names that exist"):
        pl.apply(make_model(), pl.IA3Config(target_modules=("key",), feedforward_modules=()))
    model = pl.apply(make_model(), pl.IA3Config())
    with pytest.raises(ValueError, match="already has ia3 applied"):
        pl.apply(model, pl.IA3Config())


# ----------------------------------------------------------------------------- BitFit

def direct_bias_count(model):
    return sum(m.bias.numel() for m in model.modules()
               if isinstance(m, (nn.Linear, nn.LayerNorm)) and m.bias is not None and m is not model.head)


@pytest.mark.parametrize("head", ["lm", "cls"])
def test_bitfit_trains_exactly_the_biases_and_a_new_head(make_model, head):
    model = pl.apply(make_model(head=head), pl.BitFitConfig())
    head_params = sum(p.numel() for p in model.head.parameters()) if head == "cls" else 0
    assert pl.count_parameters(model)[0] == direct_bias_count(model) + head_params
    biases = {id(m.bias) for m in model.modules() if isinstance(m, (nn.Linear, nn.LayerNorm)) and m.bias is not None}
    head_ids = {id(p) for p in model.head.parameters()} if head == "cls" else set()
    for p in model.parameters():
        assert p.requires_grad == (id(p) in biases or id(p) in head_ids)


def test_bitfit_includes_packed_attention_biases():
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32)
    pl.apply(layer, pl.BitFitConfig())
    assert layer.self_attn.in_proj_bias.requires_grad and not layer.self_attn.in_proj_weight.requires_grad
    expected = 3 * 16 + 16 + 32 + 16 + 2 * 16   # q/k/v, attention output, FFN x2, two LayerNorms
    assert pl.count_parameters(layer)[0] == expected


def test_bitfit_without_biases_and_merge_are_clear_errors(make_model):
    with pytest.raises(ValueError, match="no bias"):
        pl.apply(nn.Sequential(nn.Linear(4, 4, bias=False)), pl.BitFitConfig())
    with pytest.raises(ValueError, match="nothing to merge"):
        pl.merge(pl.apply(make_model(), pl.BitFitConfig()))


# ----------------------------------------------------------------------------- both

@pytest.mark.parametrize("config", [pl.IA3Config(), pl.BitFitConfig()], ids=["ia3", "bitfit"])
def test_training_lowers_the_loss_and_only_the_method_changes(make_model, config):
    model = pl.apply(make_model(head="lm"), config)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    losses = train_to_say_7(model)
    assert losses[-1] < 0.99 * losses[0]
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)


@pytest.mark.parametrize("config", [pl.IA3Config(), pl.BitFitConfig()], ids=["ia3", "bitfit"])
def test_save_and_load_is_bit_identical(make_model, batch, tmp_path, config):
    ids, mask = batch
    model = pl.apply(make_model(head="cls"), config)
    with torch.no_grad():   # as after training
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.1)
    pl.save_adapter(model, tmp_path)
    loaded = pl.load_adapter(make_model(head="cls"), tmp_path)
    assert loaded.peft_config == model.peft_config
    assert torch.equal(loaded(ids, attention_mask=mask), model(ids, attention_mask=mask))
    assert pl.count_parameters(loaded) == pl.count_parameters(model)
