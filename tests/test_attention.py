"""Attention: equal to an explicit softmax(QK^T / sqrt(d_h) + mask) V written here, independent of
``scaled_dot_product_attention``; attention dropout acts in training mode only."""
import math

import pytest
import torch
from torch import nn

import peft_lab as pl
from peft_lab.experiments.execute import build_model
from peft_lab.experiments.runner import Spec
from peft_lab.model import Attention, VirtualTokens

P = 3  # prefix keys/values per layer


def small_config(**overrides) -> pl.ModelConfig:
    shape = dict(vocab_size=50, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_len=64, dropout=0.0)
    return pl.ModelConfig(**{**shape, **overrides})


def reference_mask(padding: torch.Tensor, n_prefix: int, causal: bool) -> torch.Tensor:
    """(B, 1, T, P+T) additive mask, one entry at a time: 0 where query i may see key j, -inf elsewhere.
    Prefix keys are always visible; a real key j is visible if it is not padding and, when causal,
    j <= i; every query sees itself (so a padding row is never fully masked)."""
    B, T = padding.shape
    mask = torch.full((B, 1, T, n_prefix + T), -math.inf)
    for b in range(B):
        for i in range(T):
            mask[b, 0, i, :n_prefix] = 0.0
            for j in range(T):
                if (padding[b, j] and (not causal or j <= i)) or j == i:
                    mask[b, 0, i, n_prefix + j] = 0.0
    return mask


def reference_attention(attn: Attention, x, additive_mask, prefix=None):
    """The textbook computation with the module's weights: heads split, scores, mask, softmax, values."""
    B, T, C = x.shape
    h = attn.n_heads
    q, k, v = (x @ m.weight.T + m.bias for m in (attn.q_proj, attn.k_proj, attn.v_proj))
    if prefix is not None:
        k = torch.cat([prefix[0].expand(B, -1, -1), k], dim=1)
        v = torch.cat([prefix[1].expand(B, -1, -1), v], dim=1)
    split = lambda t: t.reshape(B, t.shape[1], h, C // h).permute(0, 2, 1, 3)  # noqa: E731
    q, k, v = split(q), split(k), split(v)
    scores = q @ k.transpose(-1, -2) / math.sqrt(C // h) + additive_mask
    y = torch.softmax(scores, dim=-1) @ v
    return attn.o_proj(y.permute(0, 2, 1, 3).reshape(B, T, C))


def reference_model(model: pl.TinyTransformer, ids, padding, prefix=None):
    """TinyTransformer's cls forward with ``reference_attention`` in every block (eval mode)."""
    T = ids.shape[1]
    x = model.embed_tokens(ids) + model.embed_positions(torch.arange(T))
    mask = reference_mask(padding, 0 if prefix is None else P, model.config.causal)
    for i, layer in enumerate(model.layers):
        x = x + reference_attention(layer.self_attn, layer.attn_norm(x), mask, None if prefix is None else prefix[i])
        x = x + layer.mlp(layer.ffn_norm(x))
    h = model.norm(x)
    m = padding.unsqueeze(-1).to(h.dtype)
    return model.head((h * m).sum(1) / m.sum(1))


class FixedPrefix(nn.Module):
    def __init__(self, prefix):
        super().__init__()
        self.prefix = prefix

    def forward(self):
        return VirtualTokens(prefix=self.prefix)


def random_prefix(cfg):
    return [(torch.randn(1, P, cfg.d_model), torch.randn(1, P, cfg.d_model)) for _ in range(cfg.n_layers)]


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("with_prefix", [False, True])
def test_attention_module_equals_the_explicit_formula(causal, with_prefix, batch):
    _, padding = batch
    cfg = small_config(causal=causal)
    attn = Attention(cfg).eval()
    model = pl.TinyTransformer(cfg)
    x = torch.randn(*padding.shape, cfg.d_model)
    prefix = random_prefix(cfg)[0] if with_prefix else None
    n = P if with_prefix else 0
    with torch.no_grad():
        ours = attn(x, model._attention_mask(padding, n, causal), prefix)
        ref = reference_attention(attn, x, reference_mask(padding, n, causal), prefix)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("with_prefix", [False, True])
def test_whole_model_equals_the_explicit_formula(causal, with_prefix, batch):
    ids, padding = batch
    cfg = small_config(causal=causal, head="cls", attention_dropout=0.1)
    model = pl.TinyTransformer(cfg).eval()
    prefix = random_prefix(cfg) if with_prefix else None
    if with_prefix:
        model.soft_prompt = FixedPrefix(prefix)
    with torch.no_grad():
        torch.testing.assert_close(model(ids, attention_mask=padding), reference_model(model, ids, padding, prefix),
                                   atol=1e-6, rtol=0)


def twin_models(**configs):
    """One model per config, all with the same weights."""
    models = {}
    for name, overrides in configs.items():
        torch.manual_seed(0)
        models[name] = pl.TinyTransformer(small_config(**overrides))
    return models


def test_attention_dropout_changes_nothing_in_eval_mode(batch):
    ids, padding = batch
    models = twin_models(none={"attention_dropout": 0.0}, some={"attention_dropout": 0.1})
    outs = [m.eval()(ids, attention_mask=padding) for m in models.values()]
    assert torch.equal(outs[0], outs[1])


def test_attention_dropout_acts_in_training_mode_only_when_set(batch):
    ids, padding = batch
    models = twin_models(none={"attention_dropout": 0.0}, some={"attention_dropout": 0.5})
    off, on = models["none"].train(), models["some"].train()  # residual dropout is 0 in both
    with torch.no_grad():
        reference = off.eval()(ids, attention_mask=padding)
        off.train()
        assert all(torch.equal(off(ids, attention_mask=padding), reference) for _ in range(3))  # deterministic
        assert not torch.allclose(on(ids, attention_mask=padding), reference)


@pytest.mark.parametrize("value", [1.0, -0.1, "0.1", True])
def test_bad_attention_dropout_names_the_field(value):
    with pytest.raises(ValueError, match=r"attention_dropout=.* must be in \[0, 1\) or None"):
        small_config(attention_dropout=value)


@pytest.mark.parametrize("attention_dropout,expected", [(0.05, 0.05), (0.0, 0.0), (None, 0.2)])
def test_residual_and_attention_dropout_are_separate(attention_dropout, expected):
    """None keeps what a config meant before attention dropout was a field: the same as dropout."""
    block = pl.TinyTransformer(small_config(dropout=0.2, attention_dropout=attention_dropout)).layers[0]
    assert (block.drop.p, block.self_attn.dropout) == (0.2, expected)


def test_load_pretrained_and_a_spec_set_attention_dropout():
    card_default = pl.load_pretrained("cls", 2)
    chosen = pl.load_pretrained("cls", 2, attention_dropout=0.0)
    assert chosen.config.attention_dropout == 0.0 and chosen.config.dropout == card_default.config.dropout
    with pytest.raises(ValueError, match="attention_dropout=1.5"):
        pl.load_pretrained("cls", 2, attention_dropout=1.5)
    for init in ("pretrained", "scratch"):
        spec = Spec(label="full", method="full", init=init, attention_dropout=0.0)
        assert build_model(spec).config.attention_dropout == 0.0
        assert build_model(Spec(label="full", method="full", init=init)).config.attention_p == \
            card_default.config.attention_p


def test_the_key_records_the_attention_dropout_a_run_uses():
    default = pl.load_pretrained("cls", 2).config.attention_p
    other = 0.1 if default == 0.0 else 0.0
    keys = {value: Spec(label="full", method="full", attention_dropout=value).key() for value in (None, default, other)}
    assert keys[None] == keys[default] != keys[other]


def test_the_attention_benchmark_times_old_and_new_side_by_side():
    """Structure only (no timing assertion): every method with both dropouts, a full-window batch."""
    from peft_lab import bench
    report = bench.attention_run(quick=True)
    assert report["meta"]["attention_dropout"] == bench.ATTENTION_DROPOUTS
    for point in report["recipes"].values():
        assert point["settings"]["tokens_per_example"] == point["settings"]["max_len"]
        assert set(point["methods"]) == set(bench.ATTENTION_METHODS)
        for rel in point["methods"].values():
            rows = rel["rows"]
            assert set(rows) == set(bench.ATTENTION_DROPOUTS) and rows["new"]["ratio"] == 1.0
            assert rows["old"]["ratio"] > 0 and all(r["median_ms"] > 0 for r in rows.values())
    assert "old/new" in bench.format_attention(report)
