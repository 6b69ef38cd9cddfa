"""NF4 storage and QLoRA: the levels, the error bound, the bits per weight, LoRA on a 4-bit base."""
import math

import pytest
import torch
from torch import nn

import peft_lab as pl
from peft_lab.methods import nf4, qlora
from peft_lab.methods.lora import LoRALinear
from peft_lab.methods.nf4 import NF4Linear
from helpers import randomize_, train

# The external reference, typed here on purpose: bitsandbytes' published NF4 table,
# ``get_4bit_type("nf4")`` in bitsandbytes/functional.py,
# https://github.com/bitsandbytes-foundation/bitsandbytes/blob/01327aa0119fa503ea16322dd72f69f202e4502e/bitsandbytes/functional.py
# (the same sixteen values as its CUDA kernels' dDequantizeNF4 and Appendix E of the QLoRA paper,
# Dettmers et al., 2023). Read as float32, the type bitsandbytes stores them in.
PUBLISHED_NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                 -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                 0.7229568362236023, 1.0]


def test_the_quantile_construction_equals_bitsandbytes_table_bit_for_bit():
    levels = nf4.nf4_levels()
    assert levels.shape == (16,) and levels.dtype == torch.float32
    published = torch.tensor(PUBLISHED_NF4, dtype=torch.float32)
    assert torch.equal(levels, published), (levels - published).abs().max()
    assert torch.equal(nf4.NF4, published)
    assert (levels.diff() > 0).all()
    assert (levels == 0).sum() == 1 and (levels < 0).sum() == 7 and (levels > 0).sum() == 8  # exact zero


def test_the_exact_offset_would_miss_the_table():
    """Why the recipe matters: the offset written as the exact fraction, or a float64 grid, moves levels."""
    published = torch.tensor(PUBLISHED_NF4, dtype=torch.float32)
    exact = 1 - 0.5 * (1 / 32 + 1 / 30)
    q = torch.special.ndtri
    pos = q(torch.linspace(exact, 0.5, 9, dtype=torch.float64)[:-1])
    neg = -q(torch.linspace(exact, 0.5, 8, dtype=torch.float64)[:-1])
    levels = torch.cat([neg, torch.zeros(1, dtype=torch.float64), pos]).sort().values
    assert not torch.equal((levels / levels.max()).float(), published)
    assert abs(nf4.NF4_OFFSET - exact) < 1e-7


def test_decision_boundaries_are_the_correctly_rounded_midpoints():
    levels = nf4.NF4.double()
    assert torch.equal(nf4._MIDPOINTS, ((levels[1:] + levels[:-1]) / 2).float())


def boundary_probes() -> torch.Tensor:
    """Every level, every midpoint, and the float32 neighbours on either side of both."""
    points = torch.cat([nf4.NF4, nf4._MIDPOINTS]).clamp(-1, 1)
    up = torch.nextafter(points, torch.tensor(2.0))
    down = torch.nextafter(points, torch.tensor(-2.0))
    return torch.cat([points, up, down]).clamp(-1, 1)


def test_quantise_then_dequantise_is_nearest_level_rounding():
    torch.manual_seed(0)
    probes = boundary_probes()
    w = torch.cat([torch.randn(64 * 40), probes, torch.ones(-probes.numel() % 64)])  # probes: absmax 1
    packed, absmax = nf4.quantize_nf4(w)
    codes = nf4.unpack_4bit(packed)
    normed = w.view(-1, 64) * (1 / absmax)[:, None]                       # what the codes encode
    x = normed.reshape(-1, 1).double()
    # the decision rule of bitsandbytes' kernel: the code is the number of midpoints t with x > t
    assert torch.equal(codes, (x > nf4._MIDPOINTS.double()).sum(dim=1))
    # which is nearest-level rounding (ties to the lower level) except at a float32-rounded midpoint
    distance = (x - nf4.NF4.double()).abs()                                # exact for float32 inputs
    nearest = distance.argmin(dim=1)
    at_a_midpoint = torch.isin(normed.reshape(-1), nf4._MIDPOINTS)
    assert torch.equal(codes[~at_a_midpoint], nearest[~at_a_midpoint])
    assert (distance[at_a_midpoint, codes[at_a_midpoint]] - distance.min(dim=1).values[at_a_midpoint]).max() < 1e-7
    # dequantised values are exactly level × absmax in float32
    w_hat = nf4.dequantize_nf4(packed, absmax, w.shape)
    assert torch.equal(w_hat, (nf4.NF4[codes].view(-1, 64) * absmax[:, None]).reshape(-1))


def test_codes_and_values_equal_bitsandbytes_live():
    """Only where bitsandbytes is installed (it is not a dependency): codes and values bit for bit."""
    bnb_functional = pytest.importorskip("bitsandbytes.functional")
    torch.manual_seed(0)
    w = torch.randn(128, 64)
    try:
        packed_bnb, state = bnb_functional.quantize_4bit(w, blocksize=64, quant_type="nf4")
    except (NotImplementedError, RuntimeError) as err:  # builds without a CPU 4-bit kernel
        pytest.skip(f"bitsandbytes cannot quantise on this device: {err}")
    assert torch.equal(state.code.cpu().float(), nf4.NF4)
    packed, absmax = nf4.quantize_nf4(w)
    assert torch.equal(packed, packed_bnb.reshape(-1).cpu()) and torch.equal(absmax, state.absmax.cpu())
    w_bnb = bnb_functional.dequantize_4bit(packed_bnb, state)
    assert torch.equal(nf4.dequantize_nf4(packed, absmax, w.shape), w_bnb.cpu())


def test_pack_and_unpack_two_codes_per_byte():
    codes = torch.arange(16).repeat(3)[torch.randperm(48)]
    packed = nf4.pack_4bit(codes)
    assert packed.dtype == torch.uint8 and packed.numel() == 24
    assert packed[0] == codes[0] * 16 + codes[1]
    assert torch.equal(nf4.unpack_4bit(packed), codes)


def quantise_roundtrip(w, block_size=64, double_quant=False):
    layer = NF4Linear(w, None, block_size=block_size, double_quant=double_quant)
    return layer, layer.dequantize()


def block_absmax(w, block_size):
    return w.reshape(-1, block_size).abs().amax(dim=1, keepdim=True)


@pytest.mark.parametrize("double_quant", [False, True])
def test_roundtrip_error_is_within_half_an_nf4_step(double_quant):
    w = torch.randn(256, 128)
    layer, w_hat = quantise_roundtrip(w, double_quant=double_quant)
    half_step = (nf4.NF4.diff().max() / 2).item()   # the widest gap is between the top two levels
    absmax = block_absmax(w, 64)
    absmax_error = (layer.absmax_constants()[:, None] - absmax).abs()  # 0 without double quantisation
    err = (w_hat - w).reshape(-1, 64).abs()
    assert (err <= absmax * half_step + absmax_error + 1e-6).all()
    if not double_quant:  # the largest entry of every block is stored exactly (it maps to ±1)
        assert torch.equal(w_hat.reshape(-1, 64).abs().amax(dim=1, keepdim=True), absmax)
    rel_rmse = ((w_hat - w).pow(2).mean() / w.pow(2).mean()).sqrt()
    assert 0.05 < rel_rmse < 0.15  # what 16 levels can do: about a tenth of the weights' scale


def uniform_4bit(w, block_size=64):
    """The plain alternative: 16 evenly spaced levels in [-1, 1] per absmax block."""
    levels = torch.linspace(-1, 1, 16)
    absmax = block_absmax(w, block_size)
    x = w.reshape(-1, block_size) / absmax
    return (levels[(x[..., None] - levels).abs().argmin(-1)] * absmax).view_as(w)


def test_nf4_beats_evenly_spaced_levels_on_normal_weights():
    w = torch.randn(256, 256)
    _, w_nf4 = quantise_roundtrip(w)
    assert (w_nf4 - w).pow(2).mean() < 0.9 * (uniform_4bit(w) - w).pow(2).mean()


def test_double_quantisation_error_of_the_absmax_constants_is_one_8_bit_step():
    w = torch.randn(512, 512)  # 4096 blocks -> 16 second-level blocks of 256
    plain, _ = quantise_roundtrip(w)
    dq, _ = quantise_roundtrip(w, double_quant=True)
    c = plain.absmax
    centred = (c - c.mean()).view(-1, 256)
    step = centred.abs().amax(dim=1, keepdim=True) / 127  # one int8 step per second-level block
    assert ((dq.absmax_constants() - c).view(-1, 256).abs() <= step / 2 + 1e-6).all()
    assert dq.absmax_codes.dtype == torch.int8 and dq.absmax_scale.dtype == torch.float32


def stored_bits(layer):
    """Bytes actually held by the layer's buffers (their storages), in bits per encoded weight."""
    return 8 * sum(b.untyped_storage().nbytes() for b in layer.buffers()) / layer.quantized_numel


def test_bits_per_parameter_without_double_quantisation_is_4_plus_32_over_64():
    layer = NF4Linear(torch.randn(128, 512), None, block_size=64, double_quant=False)
    assert layer.codes.dtype == torch.uint8 and layer.absmax.dtype == torch.float32
    assert nf4.bits_per_parameter(layer) == stored_bits(layer) == 4 + 32 / 64


def test_bits_per_parameter_with_double_quantisation():
    d, k = 1024, 1024
    layer = NF4Linear(torch.randn(d, k), None, block_size=64, double_quant=True, double_quant_block_size=256)
    n_blocks = d * k // 64
    # 4-bit codes, one int8 per block, one fp32 per 256 blocks, one fp32 mean
    expected = (d * k * 4 + n_blocks * 8 + math.ceil(n_blocks / 256) * 32 + 32) / (d * k)
    assert nf4.bits_per_parameter(layer) == pytest.approx(expected, abs=1e-12)
    assert nf4.bits_per_parameter(layer) == pytest.approx(stored_bits(layer), abs=1e-12)
    assert nf4.bits_per_parameter(layer) == pytest.approx(4 + 8 / 64 + 32 / (64 * 256), abs=1e-3)  # ≈ 4.127


def test_nf4_linear_is_a_frozen_linear_layer_with_no_float_weight():
    torch.manual_seed(0)
    linear = nn.Linear(96, 40)
    layer = NF4Linear.from_linear(linear)
    assert (layer.in_features, layer.out_features, layer.quantized_numel) == (96, 40, 96 * 40)
    assert [n for n, _ in layer.named_parameters()] == ["bias"] and not layer.bias.requires_grad
    x = torch.randn(5, 96)
    torch.testing.assert_close(layer(x), nn.functional.linear(x, layer.dequantize(), linear.bias))
    assert torch.equal(layer.bias, linear.bias)


def test_a_matrix_that_does_not_fill_whole_blocks_is_padded():
    w = torch.randn(7, 9)  # 63 weights: one padded block of 64
    layer, w_hat = quantise_roundtrip(w)
    assert w_hat.shape == (7, 9) and layer.codes.numel() == 32
    assert (w_hat - w).abs().max() <= w.abs().max() * nf4.NF4.diff().max() / 2 + 1e-6


# ----------------------------------------------------------------------------- QLoRA

@pytest.mark.parametrize("kwargs, message", [
    ({"block_size": 48}, "block_size=48 is not one of (32, 64"),
    ({"double_quant_block_size": 100}, "double_quant_block_size=100 is not one of"),
    ({"double_quant": "yes"}, "double_quant='yes' is not one of (True, False)"),
    ({"r": 0}, "r=0 must be a positive integer"),
    ({"alpha": -1}, "alpha=-1 must be a positive number"),
    ({"dropout": 1.0}, "dropout=1.0 must be in [0, 1)"),
])
def test_qlora_bad_config(kwargs, message):
    with pytest.raises(ValueError) as err:
        pl.QLoRAConfig(**kwargs)
    assert message in str(err.value)


def test_qlora_quantises_every_block_linear_and_wraps_the_targets(make_model, batch):
    ids, mask = batch
    model = make_model(head="cls")
    total = sum(p.numel() for p in model.parameters())
    pl.apply(model, pl.QLoRAConfig(r=4, target_modules=("q_proj", "v_proj")))
    quantised = [n for n, m in model.named_modules() if isinstance(m, NF4Linear)]
    assert len(quantised) == 12 and not any(isinstance(m, nn.Linear) for m in model.layers.modules())
    assert type(model.head) is nn.Linear and type(model.embed_tokens) is nn.Embedding  # kept in fp32
    targets = [m for m in model.modules() if isinstance(m, LoRALinear)]
    assert len(targets) == 4 and all(isinstance(m.base, NF4Linear) for m in targets)
    head = sum(p.numel() for p in model.head.parameters())
    added = 4 * 4 * (32 + 32)
    assert pl.count_parameters(model) == (added + head, total + added)  # the 4-bit weights still count
    # B = 0: the output is the 4-bit base model's
    base_only = make_model(head="cls")
    qlora.quantize_base(base_only, model.peft_config)
    base_only.head.load_state_dict(model.head.state_dict())
    assert torch.equal(model(ids, attention_mask=mask), base_only(ids, attention_mask=mask))


def test_qlora_trains_the_adapters_and_leaves_the_4_bit_base_untouched(make_model):
    model = pl.apply(make_model(head="lm"), pl.QLoRAConfig(r=4))
    codes = {n: b.clone() for n, b in model.named_buffers()}
    losses = train(model, steps=15)
    assert losses[-1] < 0.95 * losses[0]
    assert all(torch.equal(b, codes[n]) for n, b in model.named_buffers())
    assert 4.1 < nf4.bits_per_parameter(model) < 4.3  # small matrices: one second-level block each


def test_qlora_refuses_to_merge_into_4_bits_and_merges_exactly_after_dequantize(make_model, batch):
    ids, mask = batch
    model = pl.apply(make_model(), pl.QLoRAConfig(r=4, target_modules=("q_proj", "up_proj")))
    randomize_([m.B for m in model.modules() if isinstance(m, LoRALinear)], std=0.3)
    out = model(ids, attention_mask=mask)
    with pytest.raises(ValueError, match="4-bit NF4Linear base.*dequantize"):
        pl.merge(model)
    with pytest.raises(ValueError, match="4-bit NF4Linear base"):
        model.layers[0].self_attn.q_proj.merge()
    qlora.dequantize(model)
    assert not any(isinstance(m, NF4Linear) for m in model.modules())
    torch.testing.assert_close(model(ids, attention_mask=mask), out, atol=1e-6, rtol=1e-6)
    pl.merge(model)
    torch.testing.assert_close(model(ids, attention_mask=mask), out, atol=1e-5, rtol=1e-5)


def test_qlora_remove_keeps_the_4_bit_base_and_it_can_take_an_adapter_again(make_model):
    model = pl.apply(make_model(), pl.QLoRAConfig(r=4))
    base = model.layers[0].self_attn.q_proj.base
    pl.remove(model)
    assert model.layers[0].self_attn.q_proj is base
    pl.apply(model, pl.LoRAConfig(r=2, target_modules=("q_proj",)))  # LoRA on a 4-bit base is QLoRA
    assert model.layers[0].self_attn.q_proj.base is base


def test_qlora_with_dora_starts_from_the_4_bit_base(make_model, batch):
    ids, mask = batch
    plain = pl.apply(make_model(), pl.QLoRAConfig(r=4))
    dora = pl.apply(make_model(), pl.QLoRAConfig(r=4, use_dora=True))
    torch.testing.assert_close(dora(ids, attention_mask=mask), plain(ids, attention_mask=mask), atol=1e-6, rtol=0)
