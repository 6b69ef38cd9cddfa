"""4-bit NormalFloat (NF4) storage for frozen weights, in pure PyTorch (Dettmers et al., 2023, QLoRA).

Pretrained weights are close to normally distributed, so the 16 code values are placed at
quantiles of N(0, 1): the codes are used far more evenly than 16 equally spaced levels would
be (measured in the notebooks, not assumed). A weight matrix is cut into
blocks of ``block_size`` values; each block is divided by its absolute maximum (its "absmax",
kept as a constant) and every value becomes the index of the nearest NF4 level, two 4-bit
indices per byte. Double quantisation stores the absmax constants themselves in 8 bits (after
subtracting their mean), with one fp32 scale per ``double_quant_block_size`` constants.
Storage: 4 + 32/64 = 4.5 bits per weight, or ≈ 4.127 with double quantisation (blocks 64, 256).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import check_choice

BLOCK_SIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)  # powers of two, as in bitsandbytes


# bitsandbytes' offset: the outermost probability, ``1 - (1/32 + 1/30) / 2`` (halfway between the
# last bin centres of a 16- and a 15-bin grid) written to 7 decimals. Using the exact fraction instead
# moves the levels by up to 1.8e-7, so the codes would no longer be bitsandbytes' codes.
NF4_OFFSET = 0.9677083


def nf4_levels() -> torch.Tensor:
    """The 16 NF4 values in [-1, 1], built from normal quantiles as in the QLoRA paper.

    The levels are asymmetric so that 0 is exact: 8 positive quantiles, 7 negative ones and 0.
    The quantile function is infinite at probability 1, so the outermost probability is
    ``NF4_OFFSET``. The recipe is bitsandbytes' (``create_normal_map``), step for step, so the
    result equals its published float32 table bit for bit: the probabilities are a *float32*
    linspace from the offset to 0.5, the quantiles are computed in float64 from those float32
    probabilities and rounded to float32, and each half is normalised in float32 to end at ±1.
    """
    q = torch.special.ndtri  # inverse CDF of N(0, 1)

    def quantiles(n: int) -> torch.Tensor:  # n - 1 quantiles of float32 probabilities, as float32
        p = torch.linspace(NF4_OFFSET, 0.5, n, dtype=torch.float32)[:-1]
        return q(p.double()).float()

    positive, negative = quantiles(9), -quantiles(8)             # 8 values > 0, 7 values < 0
    levels = torch.cat([negative, torch.zeros(1), positive]).sort().values
    return levels / levels.max()


NF4 = nf4_levels()                       # (16,)
_MIDPOINTS = (NF4[1:] + NF4[:-1]) / 2    # (15,) decision boundaries of nearest-level rounding


def pack_4bit(codes: torch.Tensor) -> torch.Tensor:
    """(n,) integers in [0, 16) with n even -> (n / 2,) uint8, the first code in the high nibble."""
    codes = codes.to(torch.uint8).view(-1, 2)  # (n/2, 2)
    return (codes[:, 0] << 4) | codes[:, 1]


def unpack_4bit(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of ``pack_4bit``: (n / 2,) uint8 -> (n,) int64 codes."""
    return torch.stack([packed >> 4, packed & 0xF], dim=1).view(-1).long()  # (n/2, 2) -> (n,)


def quantize_nf4(w: torch.Tensor, block_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Block-wise absmax NF4: returns (packed codes uint8 (n_padded / 2,), absmax fp32 (n_blocks,))."""
    flat = w.detach().float().reshape(-1)
    flat = F.pad(flat, (0, -flat.numel() % block_size))      # zero-pad the last block
    blocks = flat.view(-1, block_size)                        # (n_blocks, block_size)
    absmax = blocks.abs().amax(dim=1)                         # (n_blocks,)
    # times the reciprocal, as bitsandbytes' kernel does: x / absmax can differ from it in the last bit
    normed = blocks * (1 / absmax.clamp(min=torch.finfo(torch.float32).tiny))[:, None]  # in [-1, 1]
    codes = torch.bucketize(normed.reshape(-1), _MIDPOINTS)   # index of the nearest level
    return pack_4bit(codes), absmax


def dequantize_nf4(packed: torch.Tensor, absmax: torch.Tensor, shape, block_size: int = 64) -> torch.Tensor:
    values = NF4.to(absmax.device)[unpack_4bit(packed)].view(-1, block_size)  # (n_blocks, block_size)
    numel = torch.Size(shape).numel()
    return (values * absmax[:, None]).reshape(-1)[:numel].view(shape)


def quantize_absmax_int8(c: torch.Tensor, block_size: int = 256):
    """Double quantisation of the (positive) absmax constants: subtract their mean so the values
    are centred on 0 and use the whole signed range, then symmetric 8-bit codes per block.
    Returns (codes int8 (n,), scales fp32 (n_blocks,), mean fp32 ())."""
    mean = c.mean()
    centred = F.pad(c - mean, (0, -c.numel() % block_size)).view(-1, block_size)  # (n_blocks, block)
    scale = centred.abs().amax(dim=1).clamp(min=torch.finfo(torch.float32).tiny)  # (n_blocks,)
    codes = torch.round(127 * centred / scale[:, None]).to(torch.int8)
    return codes.reshape(-1)[:c.numel()].clone(), scale, mean


def dequantize_absmax_int8(codes, scale, mean, block_size: int = 256) -> torch.Tensor:
    n = codes.numel()
    padded = F.pad(codes.float(), (0, -n % block_size)).view(-1, block_size)  # (n_blocks, block)
    return (padded * scale[:, None] / 127).reshape(-1)[:n] + mean


class NF4Linear(nn.Module):
    """A frozen linear layer whose weight is stored in NF4 and dequantised in every forward.

    It is not an ``nn.Linear`` and has no ``weight`` parameter: the weight exists only as the
    buffers below. ``quantized_numel`` is how ``count_parameters`` still counts those weights.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, block_size: int = 64,
                 double_quant: bool = True, double_quant_block_size: int = 256):
        super().__init__()
        check_choice("block_size", block_size, BLOCK_SIZES)
        check_choice("double_quant_block_size", double_quant_block_size, BLOCK_SIZES)
        if weight.dim() != 2:
            raise ValueError(f"NF4Linear needs a 2-D weight (d, k), got shape {tuple(weight.shape)}")
        self.out_features, self.in_features = weight.shape          # d, k
        self.block_size, self.double_quant = block_size, double_quant
        self.double_quant_block_size = double_quant_block_size
        codes, absmax = quantize_nf4(weight, block_size)
        self.register_buffer("codes", codes)                        # 4-bit codes, two per byte
        if double_quant:
            q, scale, mean = quantize_absmax_int8(absmax, double_quant_block_size)
            self.register_buffer("absmax_codes", q)                 # int8, one per block
            self.register_buffer("absmax_scale", scale)             # fp32, one per 256 blocks
            self.register_buffer("absmax_mean", mean)               # fp32, one per matrix
        else:
            self.register_buffer("absmax", absmax)                  # fp32, one per block
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    # Why a LoRA update cannot be merged into this layer (read by PeftLayer.unmergeable_reason): rounding
    # W0 + ΔW back to 16 levels per block erases most of a fine-tuning update, whose entries are far
    # smaller than one NF4 step. QLoRA: dequantise the base first (qlora.dequantize).
    merge_refusal = ("a 4-bit NF4Linear base (rounding W0 + ΔW back to 4 bits would erase ΔW; turn the base "
                     "into float first with pl.methods.qlora.dequantize(model))")

    @classmethod
    def from_linear(cls, linear: nn.Linear, **kwargs) -> "NF4Linear":
        return cls(linear.weight, linear.bias, **kwargs)

    @property
    def quantized_numel(self) -> int:
        return self.out_features * self.in_features

    def absmax_constants(self) -> torch.Tensor:
        if not self.double_quant:
            return self.absmax
        return dequantize_absmax_int8(self.absmax_codes, self.absmax_scale, self.absmax_mean,
                                      self.double_quant_block_size)

    def dequantize(self) -> torch.Tensor:
        """W0 as fp32, shape (d, k)."""
        return dequantize_nf4(self.codes, self.absmax_constants(), (self.out_features, self.in_features),
                              self.block_size)

    @property
    def weight(self) -> torch.Tensor:
        """W0 as fp32, (d, k), dequantised on every read (a tensor, not a parameter: it never trains)."""
        return self.dequantize()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.dequantize().to(x.dtype), bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"block_size={self.block_size}, double_quant={self.double_quant}")


def storage_bytes(layer: NF4Linear) -> int:
    """Bytes of everything that encodes the weight: codes and quantisation constants (not the bias)."""
    return sum(b.numel() * b.element_size() for b in layer.buffers())


def bits_per_parameter(module: nn.Module) -> float:
    """Stored bits per quantised weight over every NF4Linear in ``module`` (itself included)."""
    layers = [m for m in module.modules() if isinstance(m, NF4Linear)]
    if not layers:
        raise ValueError(f"{type(module).__name__} holds no NF4Linear layer: nothing is quantised")
    return 8 * sum(storage_bytes(m) for m in layers) / sum(m.quantized_numel for m in layers)
