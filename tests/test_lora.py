"""LoRA and rsLoRA: the defining properties, agreement with HF PEFT, and adapter files for the family."""
import json
import math
import pickle

import pytest
import torch
from safetensors import safe_open

import peft_lab as pl
from peft_lab.methods import adalora, dylora
from peft_lab.methods.base import PeftLayer
from peft_lab.methods.lora import LoRALinear
from helpers import randomize_, train


def lora_layers(model):
    return [m for m in model.modules() if isinstance(m, LoRALinear)]


# ----------------------------------------------------------------------------- config checks

@pytest.mark.parametrize("field, value, allowed", [
    ("r", 0, "positive integer"), ("r", -2, "positive integer"), ("r", 2.5, "positive integer"),
    ("alpha", 0, "positive number"), ("alpha", -1.0, "positive number"),
    ("dropout", 1.0, "in [0, 1)"), ("dropout", -0.1, "in [0, 1)"),
    ("target_modules", (), "at least one module"),
])
def test_bad_config_names_field_value_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ValueError) as err:
        pl.LoRAConfig(**{field: value})
    assert f"{field}={value!r}" in str(err.value) and allowed in str(err.value)


def test_target_modules_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="target_modules=3"):
        pl.LoRAConfig(target_modules=3)


def test_rank_above_the_layer_limit_is_an_error(make_model):
    with pytest.raises(ValueError, match=r"r=40 exceeds .* min\(d=32, k=32\)=32"):
        pl.apply(make_model(d_model=32), pl.LoRAConfig(r=40))


# ----------------------------------------------------------------------------- the layer

@pytest.mark.parametrize("rslora", [False, True])
def test_output_is_unchanged_at_init(make_model, batch, rslora):
    model = make_model()
    ids, mask = batch
    before = model(ids, attention_mask=mask)
    pl.apply(model, pl.LoRAConfig(r=4, target_modules="all-linear", use_rslora=rslora))
    assert all(torch.count_nonzero(m.B) == 0 and torch.count_nonzero(m.A) > 0 for m in lora_layers(model))
    assert torch.equal(model(ids, attention_mask=mask), before)


def test_a_is_kaiming_uniform_and_shapes_follow_the_paper(make_model):
    model = pl.apply(make_model(d_model=32, d_ff=64), pl.LoRAConfig(r=4, target_modules=("up_proj",)))
    layer = model.layers[0].mlp.up_proj  # W0: d=64 x k=32
    assert layer.A.shape == (4, 32) and layer.B.shape == (64, 4)
    bound = 1 / math.sqrt(32)  # kaiming_uniform(a=sqrt(5)) on fan_in k
    assert layer.A.abs().max() <= bound and layer.A.abs().max() > 0.8 * bound


def test_trainable_count_is_r_times_d_plus_k_per_target(make_model):
    model = make_model(head="lm", d_model=32, d_ff=64, n_layers=2)
    r = 4
    pl.apply(model, pl.LoRAConfig(r=r, target_modules=("v_proj", "up_proj", "down_proj")))
    expected = sum(r * (m.out_features + m.in_features) for m in lora_layers(model))
    assert expected == 2 * r * ((32 + 32) + (64 + 32) + (32 + 64))
    assert pl.count_parameters(model)[0] == expected


def set_update(model, seed=1):
    randomize_([m.B for m in lora_layers(model)], std=0.2, seed=seed)


@pytest.mark.parametrize("r", [2, 8])
def test_scaling_is_alpha_over_r_or_over_sqrt_r(make_model, r):
    x = torch.randn(3, 32)
    updates = {}
    for alpha, rslora in [(8, False), (16, False), (8, True)]:
        model = pl.apply(make_model(), pl.LoRAConfig(r=r, alpha=alpha, use_rslora=rslora))
        layer = lora_layers(model)[0]
        torch.manual_seed(0)
        torch.nn.init.normal_(layer.B)  # same A (make_model reseeds) and same B for every config
        update = layer(x) - layer.base(x)
        scaling = alpha / math.sqrt(r) if rslora else alpha / r
        torch.testing.assert_close(update, scaling * x @ layer.A.T @ layer.B.T)  # h = W0 x + scaling B A x
        updates[alpha, rslora] = update
    torch.testing.assert_close(updates[16, False], 2 * updates[8, False])           # linear in alpha
    torch.testing.assert_close(updates[8, True], math.sqrt(r) * updates[8, False])  # rsLoRA: x sqrt(r)


def test_dropout_acts_on_the_lora_path_only(make_model, batch):
    ids, mask = batch
    model = make_model()
    before = model(ids, attention_mask=mask)
    pl.apply(model, pl.LoRAConfig(r=4, dropout=0.5)).train()
    assert torch.equal(model(ids, attention_mask=mask), before)  # B = 0: dropout cannot touch the base path
    set_update(model)
    assert not torch.equal(model(ids, attention_mask=mask), model(ids, attention_mask=mask))  # random in training
    model.eval()
    assert torch.equal(model(ids, attention_mask=mask), model(ids, attention_mask=mask))


def test_merge_and_unmerge_are_exact_within_float_tolerance(make_model, batch):
    ids, mask = batch
    model = pl.apply(make_model(), pl.LoRAConfig(r=4, target_modules="all-linear"))
    set_update(model)
    W0 = {id(m): m.base.weight.clone() for m in lora_layers(model)}
    unmerged = model(ids, attention_mask=mask)
    pl.merge(model)
    for m in lora_layers(model):  # merged inference is the base layer alone: the LoRA path is never run
        m.lora_output = None
        assert not torch.allclose(m.base.weight, W0[id(m)])
    torch.testing.assert_close(model(ids, attention_mask=mask), unmerged, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="already merged"):
        pl.merge(model)
    for m in lora_layers(model):
        del m.lora_output
    pl.unmerge(model)
    for m in lora_layers(model):
        torch.testing.assert_close(m.base.weight, W0[id(m)], atol=1e-6, rtol=0)
    torch.testing.assert_close(model(ids, attention_mask=mask), unmerged, atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="not merged"):
        pl.unmerge(model)


def test_training_changes_only_the_adapters_and_the_loss_goes_down(make_model):
    model = pl.apply(make_model(head="lm"), pl.LoRAConfig(r=4, target_modules="all-linear"))
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    opt = lambda m, lr: torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=lr, weight_decay=0.1)
    losses = train(model, steps=15, lr=1e-2, optimizer=opt)
    assert losses[-1] < 0.95 * losses[0]
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)  # bit-identical
    assert all(not torch.equal(p, trainable[n]) for n, p in model.named_parameters() if n in trainable)


# ----------------------------------------------------------------------------- HF PEFT agreement

@pytest.mark.parametrize("variant", ["lora", "rslora", "dora"])
def test_agrees_with_hf_peft(make_model, batch, variant):
    import peft  # the dev extra installs it; the whole point of this test is to compare

    ids, mask = batch
    targets = ("q_proj", "v_proj", "up_proj")
    opts = {"use_rslora": variant == "rslora", "use_dora": variant == "dora"}
    ours = pl.apply(make_model(), pl.LoRAConfig(r=4, alpha=8, target_modules=targets, **opts))
    set_update(ours)
    theirs = peft.get_peft_model(make_model(), peft.LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.0, target_modules=list(targets), modules_to_save=["head"], **opts))
    hf_layers = {n.removeprefix("base_model.model."): m for n, m in theirs.named_modules()
                 if isinstance(m, peft.tuners.lora.LoraLayer)}
    with torch.no_grad():
        for name, m in ours.named_modules():
            if isinstance(m, LoRALinear):
                hf = hf_layers[name]
                hf.lora_A["default"].weight.copy_(m.A)
                hf.lora_B["default"].weight.copy_(m.B)
                if variant == "dora":
                    m.m.mul_(1.5)  # a magnitude that differs from the init as well
                    hf.lora_magnitude_vector["default"].weight.copy_(m.m)
    theirs.eval()
    torch.testing.assert_close(theirs(ids, attention_mask=mask), ours(ids, attention_mask=mask), atol=1e-5, rtol=0)
    assert sum(p.numel() for p in theirs.parameters() if p.requires_grad) == pl.count_parameters(ours)[0]


# ----------------------------------------------------------------------------- adapter files

FAMILY = {
    "lora": lambda: pl.LoRAConfig(r=4, target_modules=("q_proj", "v_proj", "up_proj")),
    "rslora": lambda: pl.LoRAConfig(r=4, use_rslora=True),
    "dora": lambda: pl.LoRAConfig(r=4, use_dora=True),
    "dylora": lambda: pl.DyLoRAConfig(r=4),
    "adalora": lambda: pl.AdaLoRAConfig(init_r=4, target_r=2),
    "qlora": lambda: pl.QLoRAConfig(r=4),
}


def trained_looking(model, name):
    """Give every trainable tensor (and the method's state) a non-initial value."""
    randomize_([p for p in model.parameters() if p.requires_grad], std=0.1)
    if name == "dylora":
        dylora.set_rank(model, 2)
    if name == "adalora":
        for i, (_, layer) in enumerate(adalora.adalora_layers(model)):
            layer.mask[: i % 4] = False
            with torch.no_grad():
                layer.Lambda.mul_(layer.mask)
    return model


@pytest.mark.parametrize("name", FAMILY)
def test_save_and_load_give_bit_identical_outputs(make_model, batch, tmp_path, name):
    ids, mask = batch
    model = trained_looking(pl.apply(make_model(), FAMILY[name]()), name)
    pl.save_adapter(model, tmp_path / "adapter")
    loaded = pl.load_adapter(make_model(), tmp_path / "adapter")
    assert loaded.peft_config == model.peft_config
    assert torch.equal(loaded(ids, attention_mask=mask), model(ids, attention_mask=mask))
    if name == "dylora":
        assert dylora.get_rank(loaded) == 2
    if name == "adalora":
        assert adalora.rank_pattern(loaded) == adalora.rank_pattern(model)


@pytest.mark.parametrize("name", FAMILY)
def test_the_file_holds_only_what_the_method_trained(make_model, tmp_path, name):
    model = trained_looking(pl.apply(make_model(), FAMILY[name]()), name)
    pl.save_adapter(model, tmp_path)
    with safe_open(str(tmp_path / "adapter_model.safetensors"), "pt") as f:
        saved = set(f.keys())
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    method_state = {f"{n}.{b}" for n, m in model.named_modules() if isinstance(m, PeftLayer)
                    for b, _ in m.named_buffers() if not b.startswith("base.")}  # AdaLoRA's mask
    assert saved == trainable | method_state


def test_loading_into_a_model_of_another_shape_names_the_mismatch(make_model, tmp_path):
    pl.save_adapter(pl.apply(make_model(d_model=32), pl.LoRAConfig(r=4)), tmp_path)
    fresh = make_model(d_model=48)
    with pytest.raises(ValueError, match="another base model.*d_model: adapter 32 vs model 48"):
        pl.load_adapter(fresh, tmp_path)
    assert getattr(fresh, "peft_config", None) is None and not lora_layers(fresh)


def test_loading_tensors_of_another_shape_leaves_the_model_as_it_was(tmp_path):
    layer = torch.nn.TransformerEncoderLayer(16, 2, 24, dropout=0.0, batch_first=True)
    pl.save_adapter(pl.apply(layer, pl.LoRAConfig(r=4, target_modules=("linear1",))), tmp_path)
    other = torch.nn.TransformerEncoderLayer(16, 2, 40, dropout=0.0, batch_first=True)  # no .config to compare
    linear1 = other.linear1
    with pytest.raises(ValueError, match=r"linear1.B: the adapter has shape \(24, 4\).*expects \(40, 4\)"):
        pl.load_adapter(other, tmp_path)
    assert other.linear1 is linear1 and getattr(other, "peft_config", None) is None


def test_loading_an_adapter_of_another_method_names_both(make_model, tmp_path):
    pl.save_adapter(pl.apply(make_model(), pl.DyLoRAConfig(r=4)), tmp_path / "dylora")
    with pytest.raises(ValueError, match="already has lora applied.*is dylora"):
        pl.load_adapter(pl.apply(make_model(), pl.LoRAConfig(r=4)), tmp_path / "dylora")


def test_a_weights_file_of_another_method_is_caught(make_model, tmp_path):
    pl.save_adapter(pl.apply(make_model(), pl.LoRAConfig(r=4)), tmp_path / "lora")
    pl.save_adapter(pl.apply(make_model(), pl.DyLoRAConfig(r=4)), tmp_path / "dylora")
    pl.save_adapter(pl.apply(make_model(), pl.LoRAConfig(r=4, use_dora=True)), tmp_path / "dora")
    weights = "adapter_model.safetensors"
    # DyLoRA's tensors have LoRA's names and shapes: only the recorded method tells them apart
    (tmp_path / "lora" / weights).write_bytes((tmp_path / "dylora" / weights).read_bytes())
    fresh = make_model()
    with pytest.raises(ValueError, match="holds tensors of 'dylora' but adapter_config.json describes 'lora'"):
        pl.load_adapter(fresh, tmp_path / "lora")
    assert getattr(fresh, "peft_config", None) is None
    # DoRA is LoRA with one more tensor per layer: the tensor names tell them apart
    (tmp_path / "lora" / weights).write_bytes((tmp_path / "dora" / weights).read_bytes())
    with pytest.raises(ValueError, match=r"do not fit lora .*unexpected \['layers.0.self_attn.q_proj.m'"):
        pl.load_adapter(fresh, tmp_path / "lora")
    assert getattr(fresh, "peft_config", None) is None and not lora_layers(fresh)


def test_a_config_naming_an_unknown_method_is_an_error(make_model, tmp_path):
    pl.save_adapter(pl.apply(make_model(), pl.LoRAConfig(r=4)), tmp_path)
    meta = json.loads((tmp_path / "adapter_config.json").read_text())
    meta["method"] = "lora_v9"
    (tmp_path / "adapter_config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="unknown PEFT method 'lora_v9'; known methods: .*'qlora'"):
        pl.load_adapter(make_model(), tmp_path)


def test_loading_never_unpickles(make_model, batch, tmp_path, monkeypatch):
    model = trained_looking(pl.apply(make_model(), pl.LoRAConfig(r=4)), "lora")
    pl.save_adapter(model, tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("load_adapter unpickled something")
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    ids, mask = batch
    assert torch.equal(pl.load_adapter(make_model(), tmp_path)(ids, attention_mask=mask),
                       model(ids, attention_mask=mask))


def test_an_existing_adapter_is_not_silently_overwritten(make_model, tmp_path):
    first = trained_looking(pl.apply(make_model(), pl.LoRAConfig(r=4)), "lora")
    pl.save_adapter(first, tmp_path)
    saved = (tmp_path / "adapter_model.safetensors").read_bytes()
    second = pl.apply(make_model(), pl.LoRAConfig(r=4))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        pl.save_adapter(second, tmp_path)
    assert (tmp_path / "adapter_model.safetensors").read_bytes() == saved
    pl.save_adapter(second, tmp_path, overwrite=True)
    assert (tmp_path / "adapter_model.safetensors").read_bytes() != saved
