"""Checkpoint sizes: the base model and one adapter, in a chosen number format.

Float formats store every parameter at 4 (fp32) or 2 bytes (fp16, bf16). The 8- and 4-bit
formats quantise the weight matrices of the linear layers (not the LM head, embeddings, norms
or biases, which stay 16-bit), as the bitsandbytes loaders in HF transformers do:

* int8 (LLM.int8(), Dettmers et al. 2022): 1 byte per weight + one fp32 absmax per output row.
* nf4 (QLoRA, Dettmers et al. 2023): 4 bits per weight + one absmax per block of 64 weights.
  In fp32 that constant costs 32/64 = 0.5 bit per weight; double quantisation stores it in
  8 bits with one fp32 constant per 256 of them: 8/64 + 32/(64·256) ≈ 0.127 bit, so 4.127 bits
  per weight (the paper's section 3). Counted exactly per matrix, padding included, as
  ``peft_lab.methods.nf4`` stores it (plus one fp32 mean per matrix for the centred constants).

Serving N tasks costs one base plus N adapters, against N fully fine-tuned copies.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..checks import check_positive_int
from .arch import Architecture
from .params import count, method_of
from .presets import get
from .units import human_bytes, table

FLOAT_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}
DTYPES = ("fp32", "fp16", "bf16", "int8", "nf4")
KEPT_BYTES = 2   # what int8 / NF4 checkpoints keep unquantised (embeddings, norms, biases, head) is 16-bit


def nf4_bytes(numel: int, block_size: int = 64, double_quant: bool = True,
              double_quant_block_size: int = 256) -> int:
    """Bytes of one NF4 matrix: 4-bit codes + absmax constants (fp32, or int8 + fp32 scales + mean)."""
    blocks = math.ceil(numel / block_size)
    codes = blocks * block_size // 2                     # two 4-bit codes per byte, last block zero-padded
    if not double_quant:
        return codes + 4 * blocks
    return codes + blocks + 4 * math.ceil(blocks / double_quant_block_size) + 4


def nf4_bits_per_weight(block_size: int = 64, double_quant: bool = True, double_quant_block_size: int = 256) -> float:
    """The asymptotic bits per weight: 4.5 for fp32 constants per 64, ≈ 4.127 with double quantisation."""
    if not double_quant:
        return 4 + 32 / block_size
    return 4 + 8 / block_size + 32 / (block_size * double_quant_block_size)


def nf4_options(config) -> dict:
    """NF4 block sizes from a QLoRA config (read by attribute), or the paper's defaults."""
    return {"block_size": getattr(config, "block_size", 64), "double_quant": getattr(config, "double_quant", True),
            "double_quant_block_size": getattr(config, "double_quant_block_size", 256)}


def quantized_linear_bytes(arch: Architecture, dtype: str, nf4: dict | None = None) -> tuple[int, int]:
    """(bytes of every quantised linear weight, how many weights that is) for int8 or nf4."""
    nf4 = nf4 or {}
    stored = numel = 0
    linears = [(s.n_layers, l) for s in arch.stacks for l in s.linears] + [(1, l) for l in arch.extra_linears]
    for n, lin in linears:
        w = lin.in_features * lin.out_features
        numel += n * w
        stored += n * (w + 4 * lin.out_features if dtype == "int8" else nf4_bytes(w, **nf4))
    return stored, numel


def model_bytes(arch: Architecture, dtype: str, num_labels: int | None = None, nf4: dict | None = None,
                kept_bytes: float = KEPT_BYTES) -> int:
    """Bytes of the whole model in ``dtype``; int8 / nf4 keep non-linear parts at ``kept_bytes``."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not one of {DTYPES}")
    total = arch.total_params(num_labels)
    if dtype in FLOAT_BYTES:
        return total * FLOAT_BYTES[dtype]
    stored, numel = quantized_linear_bytes(arch, dtype, nf4)
    return stored + round((total - numel) * kept_bytes)


@dataclass(frozen=True)
class StorageReport:
    """What it takes to store (and serve) ``n_tasks`` fine-tuned tasks."""
    arch: str
    method: str
    dtype: str
    base: int          # bytes of the base checkpoint
    adapter: int       # bytes of one task's adapter (a whole model for full fine-tuning)
    full_copy: int     # bytes of one fully fine-tuned model
    n_tasks: int = 1

    @property
    def serving(self) -> int:
        """One base + n adapters (n whole models for full fine-tuning)."""
        if self.method == "full":
            return self.n_tasks * self.full_copy
        return self.base + self.n_tasks * self.adapter

    @property
    def full_copies(self) -> int:
        return self.n_tasks * self.full_copy

    @property
    def saving(self) -> float:
        """How many times smaller serving with this method is than n full copies."""
        return self.full_copies / self.serving

    def __str__(self) -> str:
        rows = [("base model", human_bytes(self.base)), ("one adapter", human_bytes(self.adapter)),
                (f"{self.n_tasks} task(s), this method", human_bytes(self.serving)),
                (f"{self.n_tasks} full copies", human_bytes(self.full_copies)),
                ("saving", f"{self.saving:.3g} x")]
        return table(f"storage: {self.method} on {self.arch}, base in {self.dtype}", rows)


def storage(arch, config=None, dtype: str = "bf16", n_tasks: int = 1, num_labels: int | None = None,
            adapter_dtype: str | None = None) -> StorageReport:
    """Checkpoint bytes of the base (in ``dtype``) and of one adapter, and of serving ``n_tasks``.

    The adapter is what inference keeps (P-Tuning and prefix MLPs folded away), stored in
    ``adapter_dtype`` (default: ``dtype``, or bf16 when the base is int8/NF4, as in QLoRA).
    """
    arch = get(arch)
    check_positive_int("n_tasks", n_tasks)
    adapter_dtype = adapter_dtype or (dtype if dtype in FLOAT_BYTES else "bf16")
    if adapter_dtype not in FLOAT_BYTES:
        raise ValueError(f"adapter_dtype={adapter_dtype!r} is not one of {tuple(FLOAT_BYTES)}")
    nf4 = nf4_options(config)
    base = model_bytes(arch, dtype, None, nf4)
    full_copy = model_bytes(arch, dtype, num_labels, nf4)
    if config is None:
        return StorageReport(arch.name, "base model", dtype, base, 0, full_copy, n_tasks)
    method = method_of(config)
    trained = count(arch, config, num_labels, folded=True)
    adapter = full_copy if method == "full" else trained * FLOAT_BYTES[adapter_dtype]
    return StorageReport(arch.name, method, dtype, base, adapter, full_copy, n_tasks)
