"""DoRA, LoRA+, DyLoRA and AdaLoRA: each variant's defining property."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import peft_lab as pl
from peft_lab.methods import adalora, dylora
from peft_lab.methods.adalora import AdaLoRALinear, Sensitivity
from peft_lab.methods.dora import DoRALinear
from peft_lab.methods.lora import LoRALinear
from peft_lab.train import TrainingHook
from helpers import counting_ids, lm_loss, randomize_, train


def layers_of(model, cls):
    return [m for m in model.modules() if isinstance(m, cls)]


def method_hooks(model):
    return pl.methods.training_hooks(model)


# ============================================================================= DoRA

def test_dora_output_is_unchanged_at_init_and_m_is_the_row_norm_of_w0(make_model, batch):
    ids, mask = batch
    model = make_model()
    before = model(ids, attention_mask=mask)
    W0 = {n: model.get_submodule(n).weight.clone() for n in ("layers.0.self_attn.q_proj", "layers.1.mlp.up_proj")}
    pl.apply(model, pl.LoRAConfig(r=4, use_dora=True, target_modules="all-linear"))
    assert torch.equal(model(ids, attention_mask=mask), before)
    for name, w in W0.items():
        layer = model.get_submodule(name)
        assert isinstance(layer, DoRALinear) and isinstance(layer, LoRALinear)
        torch.testing.assert_close(layer.m, torch.linalg.vector_norm(w, dim=1))  # one per output feature


def test_use_dora_builds_the_layer_dora_registers_and_says_so_when_it_is_missing(make_model, monkeypatch):
    from peft_lab.methods import lora
    assert lora.LAYERS == {"lora": LoRALinear, "dora": DoRALinear}   # dora.py added itself; lora imports no dora
    monkeypatch.delitem(lora.LAYERS, "dora")
    with pytest.raises(ValueError, match=r"use_dora=True needs the 'dora' layer.*peft_lab\.methods\.dora"):
        pl.apply(make_model(), pl.LoRAConfig(r=4, use_dora=True))


def test_dora_counts_r_d_plus_k_plus_d_per_target(make_model):
    model = pl.apply(make_model(head="lm", d_model=32, d_ff=64),
                     pl.LoRAConfig(r=4, use_dora=True, target_modules=("q_proj", "up_proj")))
    assert pl.count_parameters(model)[0] == 2 * ((4 * (32 + 32) + 32) + (4 * (64 + 32) + 64))


def test_dora_is_magnitude_times_normalised_direction(make_model):
    model = pl.apply(make_model(d_model=32, d_ff=64),
                     pl.LoRAConfig(r=4, alpha=8, use_dora=True, target_modules=("up_proj",)))
    layer = model.layers[0].mlp.up_proj
    randomize_([layer.A, layer.B, layer.m], std=0.3)
    x = torch.randn(3, 32)
    W0, b = layer.base.weight, layer.base.bias
    V = W0 + (8 / 4) * layer.B @ layer.A                                # direction before normalising, (d, k)
    W = layer.m[:, None] * V / torch.linalg.vector_norm(V, dim=1, keepdim=True)
    torch.testing.assert_close(layer(x), x @ W.T + b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(layer.weight, W, atol=1e-6, rtol=1e-6)


def test_dora_merge_and_unmerge_are_exact(make_model, batch):
    ids, mask = batch
    model = pl.apply(make_model(), pl.LoRAConfig(r=4, use_dora=True, target_modules="all-linear"))
    randomize_([p for m in layers_of(model, DoRALinear) for p in (m.B, m.m)], std=0.2)
    W0 = [m.base.weight.clone() for m in layers_of(model, DoRALinear)]
    unmerged = model(ids, attention_mask=mask)
    pl.merge(model)
    torch.testing.assert_close(model(ids, attention_mask=mask), unmerged, atol=1e-5, rtol=1e-5)
    pl.unmerge(model)
    for m, w in zip(layers_of(model, DoRALinear), W0):
        torch.testing.assert_close(m.base.weight, w, atol=1e-6, rtol=0)
    torch.testing.assert_close(model(ids, attention_mask=mask), unmerged, atol=1e-6, rtol=1e-6)


def test_dora_trains_magnitude_and_direction(make_model):
    model = pl.apply(make_model(head="lm"), pl.LoRAConfig(r=4, use_dora=True, target_modules="all-linear"))
    m0 = [m.m.detach().clone() for m in layers_of(model, DoRALinear)]
    losses = train(model, steps=15)
    assert losses[-1] < 0.95 * losses[0]
    assert all(not torch.equal(m.m, m_init) for m, m_init in zip(layers_of(model, DoRALinear), m0))


# ============================================================================= LoRA+

def test_loraplus_gives_every_b_ratio_times_the_learning_rate(make_model):
    model = pl.apply(make_model(head="cls"), pl.LoRAConfig(r=4, use_dora=True, target_modules="all-linear"))
    opt = pl.loraplus_optimizer(model, lr=1e-3, ratio=8, weight_decay=0.01)
    assert isinstance(opt, torch.optim.AdamW)
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in opt.param_groups}
    lora = layers_of(model, LoRALinear)
    assert by_lr[8e-3] == {id(m.B) for m in lora}
    rest = {id(p) for m in lora for p in (m.A, m.m)} | {id(p) for p in model.head.parameters()}
    assert by_lr[1e-3] == rest
    assert set().union(*by_lr.values()) == {id(p) for p in model.parameters() if p.requires_grad}
    assert all(g["weight_decay"] == 0.01 for g in opt.param_groups)


def test_loraplus_default_ratio_is_16_and_b_moves_that_much_faster(make_model):
    model = pl.apply(make_model(head="lm"), pl.LoRAConfig(r=4))
    lr = 1e-3
    opt = pl.loraplus_optimizer(model, lr)
    A0 = [m.A.detach().clone() for m in layers_of(model, LoRALinear)]
    loss = lm_loss(model, counting_ids())
    loss.backward()
    opt.step()
    for m, a in zip(layers_of(model, LoRALinear), A0):
        # Adam's first step moves each weight by about lr * sign(gradient); A has no gradient yet (B = 0)
        torch.testing.assert_close(m.B.abs().max(), torch.tensor(16 * lr), rtol=1e-3, atol=0)
        assert torch.equal(m.A, a)


def test_loraplus_trains_through_the_optimizer_factory_door(make_model):
    lora_only = train(pl.apply(make_model(head="lm"), pl.LoRAConfig(r=4, target_modules="all-linear")),
                      steps=15, lr=1e-3)
    plus = train(pl.apply(make_model(head="lm"), pl.LoRAConfig(r=4, target_modules="all-linear")),
                 steps=15, lr=1e-3, optimizer=pl.loraplus_optimizer)
    assert plus[-1] < 0.95 * plus[0]
    assert plus[-1] < lora_only[-1]  # the same base learning rate gets further when B moves faster


def test_loraplus_refuses_models_without_lora_and_bad_values(make_model):
    with pytest.raises(ValueError, match="needs trainable LoRA layers"):
        pl.loraplus_optimizer(make_model(), 1e-3)
    model = pl.apply(make_model(), pl.LoRAConfig(r=4))
    for bad in ({"ratio": 0}, {"lr": -1.0}, {"weight_decay": -0.1}):
        (field, value), = bad.items()
        with pytest.raises(ValueError, match=f"{field}={value}"):
            pl.loraplus_optimizer(model, **({"lr": 1e-3} | bad))


# ============================================================================= DyLoRA

@pytest.mark.parametrize("kwargs, message", [
    ({"r": 0}, "r=0 must be a positive integer"),
    ({"r": 4, "min_r": 5}, r"min_r=5 must be <= r=4"),
    ({"min_r": 0}, "min_r=0 must be a positive integer"),
    ({"alpha": -2}, "alpha=-2 must be a positive number"),
    ({"dropout": 1.5}, r"dropout=1.5 must be in \[0, 1\)"),
])
def test_dylora_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pl.DyLoRAConfig(**kwargs)


def test_dylora_at_rank_b_is_a_lora_of_rank_b_made_of_the_first_b_components(make_model, batch):
    ids, mask = batch
    r, alpha = 6, 12
    base_out = make_model()(ids, attention_mask=mask)
    model = pl.apply(make_model(), pl.DyLoRAConfig(r=r, alpha=alpha))
    assert pl.count_parameters(model)[0] == 4 * r * (32 + 32) + sum(p.numel() for p in model.head.parameters())
    assert torch.equal(model(ids, attention_mask=mask), base_out)  # B = 0
    randomize_([m.B for m in layers_of(model, LoRALinear)], std=0.3)
    for b in range(1, r + 1):
        dylora.set_rank(model, b)
        reference = pl.apply(make_model(), pl.LoRAConfig(r=b, alpha=alpha))  # scaling alpha / b
        with torch.no_grad():
            for name, layer in model.named_modules():
                if isinstance(layer, LoRALinear):
                    ref = reference.get_submodule(name)
                    ref.A.copy_(layer.A[:b])
                    ref.B.copy_(layer.B[:, :b])
            reference.head.load_state_dict(model.head.state_dict())
        torch.testing.assert_close(model(ids, attention_mask=mask), reference(ids, attention_mask=mask),
                                   atol=1e-6, rtol=1e-6)


def test_dylora_set_rank_checks_its_argument(make_model):
    model = pl.apply(make_model(), pl.DyLoRAConfig(r=4))
    for bad in (0, 5, 2.0, True):
        with pytest.raises(ValueError, match=r"must be an integer in \[1, r=4\]"):
            dylora.set_rank(model, bad)
    with pytest.raises(ValueError, match="no DyLoRA layers"):
        dylora.set_rank(pl.apply(make_model(), pl.LoRAConfig(r=4)), 2)
    pl.merge(model)
    with pytest.raises(ValueError, match="unmerge first"):
        dylora.set_rank(model, 2)


def test_dylora_merges_exactly_at_a_truncated_rank(make_model, batch):
    ids, mask = batch
    model = pl.apply(make_model(), pl.DyLoRAConfig(r=4))
    randomize_([m.B for m in layers_of(model, LoRALinear)], std=0.3)
    dylora.set_rank(model, 2)
    unmerged = model(ids, attention_mask=mask)
    pl.merge(model)
    torch.testing.assert_close(model(ids, attention_mask=mask), unmerged, atol=1e-5, rtol=1e-5)


class RankRecorder(TrainingHook):
    def __init__(self):
        self.ranks = []

    def after_backward(self, model, step):  # the ranks the step's forward pass used
        self.ranks.append({m.rank for m in layers_of(model, dylora.DyLoRALinear)})


def test_dylora_samples_one_rank_per_step_and_trains_every_rank(make_model):
    model = pl.apply(make_model(head="lm"), pl.DyLoRAConfig(r=4, min_r=2, target_modules="all-linear"))
    ids = counting_ids()
    with torch.no_grad():
        untrained = lm_loss(model, ids).item()
    recorder = RankRecorder()
    losses = train(model, steps=20, hooks=method_hooks(model) + [recorder])
    assert all(len(ranks) == 1 for ranks in recorder.ranks)  # every layer uses the same b
    seen = [ranks.pop() for ranks in recorder.ranks]
    assert set(seen) == {2, 3, 4}                             # sampled from [min_r, r]
    assert dylora.get_rank(model) == 4                        # full rank again after training
    assert losses[-1] < 0.95 * losses[0]
    with torch.no_grad():
        for b in (1, 2, 3, 4):  # one training run, every rank works (even 1, never trained alone)
            dylora.set_rank(model, b)
            assert lm_loss(model, ids).item() < untrained


# ============================================================================= AdaLoRA

@pytest.mark.parametrize("kwargs, message", [
    ({"init_r": 0}, "init_r=0 must be a positive integer"),
    ({"init_r": 4, "target_r": 6}, "target_r=6 must be <= init_r=4"),
    ({"alpha": 0}, "alpha=0 must be a positive number"),
    ({"dropout": -0.5}, r"dropout=-0.5 must be in \[0, 1\)"),
    ({"tinit": 0.6, "tfinal": 0.5}, r"tinit=0.6 and tfinal=0.5 add up to 1.1; the sum must be < 1"),
    ({"tfinal": 1.2}, r"tfinal=1.2 must be in \[0, 1\)"),
    ({"deltaT": 0}, "deltaT=0 must be a positive integer"),
    ({"beta1": 1.0}, r"beta1=1.0 must be in \[0, 1\)"),
    ({"orth_reg_weight": -1}, "orth_reg_weight=-1 must be a number >= 0"),
])
def test_adalora_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pl.AdaLoRAConfig(**kwargs)


def test_adalora_starts_as_the_base_model_with_r_d_plus_k_plus_1_per_target(make_model, batch):
    ids, mask = batch
    model = make_model(head="lm", d_model=32, d_ff=64)
    before = model(ids, attention_mask=mask)
    pl.apply(model, pl.AdaLoRAConfig(init_r=6, target_r=2, target_modules=("v_proj", "down_proj")))
    assert torch.equal(model(ids, attention_mask=mask), before)  # Λ = 0
    assert pl.count_parameters(model)[0] == 2 * (6 * (32 + 32 + 1) + 6 * (32 + 64 + 1))
    layer = model.layers[0].mlp.down_proj
    assert (layer.P.shape, layer.Lambda.shape, layer.Q.shape) == ((32, 6), (6,), (6, 64))


def test_adalora_merges_exactly(make_model, batch):
    ids, mask = batch
    model = pl.apply(make_model(), pl.AdaLoRAConfig(init_r=4, target_r=2))
    randomize_([m.Lambda for m in layers_of(model, AdaLoRALinear)], std=1.0)
    unmerged = model(ids, attention_mask=mask)
    pl.merge(model)
    torch.testing.assert_close(model(ids, attention_mask=mask), unmerged, atol=1e-5, rtol=1e-5)


def test_sensitivity_is_smoothed_importance_times_uncertainty():
    p = nn.Parameter(torch.tensor([2.0, -1.0]))
    p.grad = torch.tensor([0.5, 3.0])
    s = Sensitivity(p)
    s.update(p, beta1=0.8, beta2=0.6)
    importance = torch.tensor([1.0, 3.0])        # I = |θ ∇θ|
    I_bar = 0.2 * importance                     # EMA from zero, beta1 = 0.8
    U_bar = 0.4 * (importance - I_bar).abs()     # EMA of |I - Ī|, beta2 = 0.6
    torch.testing.assert_close(s.score(), I_bar * U_bar)
    for _ in range(200):                         # a steady importance has no uncertainty left
        s.update(p, beta1=0.8, beta2=0.6)
    torch.testing.assert_close(s.I_bar, importance)
    assert s.U_bar.max() < 1e-6


def test_orthogonality_regulariser_is_zero_for_orthonormal_p_and_q(make_model):
    model = pl.apply(make_model(), pl.AdaLoRAConfig(init_r=4, target_r=2, orth_reg_weight=0.5))
    (hook,) = method_hooks(model)
    hook.on_train_begin(model, 10)
    assert hook.extra_loss(model, 0) > 0.5 * 4  # P, Q ~ N(0, 0.02): ||PᵀP - I||² ≈ r
    with torch.no_grad():
        for layer in layers_of(model, AdaLoRALinear):
            layer.P.copy_(torch.linalg.qr(torch.randn(layer.P.shape))[0])        # orthonormal columns
            layer.Q.copy_(torch.linalg.qr(torch.randn(layer.Q.shape).T)[0].T)    # orthonormal rows
    assert hook.extra_loss(model, 0) < 1e-10


class TotalRank(TrainingHook):
    def __init__(self):
        self.totals = []

    def after_step(self, model, step):
        self.totals.append(sum(adalora.rank_pattern(model).values()))


def expected_budget(t, T, b0, bT, t_init, t_final):
    """The paper's cubic schedule (eq. 12), written out independently."""
    if t < t_init:
        return b0
    if t >= T - t_final:
        return bT
    return math.floor(bT + (b0 - bT) * (1 - (t - t_init) / (T - t_final - t_init)) ** 3)


def test_adalora_total_rank_follows_the_cubic_schedule(make_model):
    config = pl.AdaLoRAConfig(init_r=4, target_r=1, tinit=0.1, tfinal=0.25)
    model = pl.apply(make_model(head="lm"), config)
    n = len(layers_of(model, AdaLoRALinear))  # 12 linears in 2 blocks
    recorder = TotalRank()
    T = 40
    losses = train(model, steps=T, lr=1e-2, hooks=method_hooks(model) + [recorder])
    assert recorder.totals == [expected_budget(t, T, 4 * n, n, 4, 10) for t in range(T)]
    middle = (4 + 30) // 2   # cubic: most of the budget goes early; half way only 1/8 of the cut is left
    assert recorder.totals[middle] - n <= (4 * n - n) / 8 + 1
    assert losses[-1] < losses[0]
    for layer in layers_of(model, AdaLoRALinear):  # what is masked is zero
        assert torch.count_nonzero(layer.Lambda[~layer.mask]) == 0


def test_adalora_masks_only_every_delta_t_steps(make_model):
    config = pl.AdaLoRAConfig(init_r=4, target_r=1, tinit=0.1, tfinal=0.25, deltaT=5)
    model = pl.apply(make_model(head="lm"), config)
    recorder = TotalRank()
    train(model, steps=40, hooks=method_hooks(model) + [recorder])
    changes = [t for t in range(1, 40) if recorder.totals[t] != recorder.totals[t - 1]]
    assert changes and all((t - 4) % 5 == 0 or t == 30 for t in changes)
    assert recorder.totals[-1] == len(layers_of(model, AdaLoRALinear))


class TwoPaths(nn.Module):
    """y = big(x) + 0.01 small(x): the loss hardly depends on the small path's update."""

    def __init__(self):
        super().__init__()
        self.big, self.small = nn.Linear(16, 16), nn.Linear(16, 16)

    def forward(self, x):
        return self.big(x) + 0.01 * self.small(x)


def test_adalora_moves_the_budget_to_the_layer_that_matters():
    torch.manual_seed(0)
    # tinit 0.3: P and Q start near zero, so the importance scores need some steps to mean something
    config = pl.AdaLoRAConfig(init_r=4, target_r=2, tinit=0.3, target_modules=("big", "small"))
    model = pl.apply(TwoPaths(), config)
    x, M = torch.randn(64, 16), torch.randn(16, 16)
    target = x @ M.T  # full rank: the big path wants every singular value it can keep
    losses = train(model, steps=60, lr=1e-2, hooks=method_hooks(model),
                   loss_fn=lambda m: F.mse_loss(m(x), target))
    pattern = adalora.rank_pattern(model)
    assert sum(pattern.values()) == 2 * 2        # target_r per layer on average ...
    assert pattern["big"] > pattern["small"]     # ... but given to the layer the loss depends on
    assert losses[-1] < 0.8 * losses[0]


def test_adalora_needs_steps_for_the_schedule(make_model):
    model = pl.apply(make_model(), pl.AdaLoRAConfig(init_r=4, target_r=2, tinit=0.5, tfinal=0.45))
    (hook,) = method_hooks(model)
    with pytest.raises(ValueError, match="2 steps leave no step for the budget to shrink"):
        hook.on_train_begin(model, 2)
