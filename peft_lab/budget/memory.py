"""Training memory by part: weights, gradients, optimizer state and activations.

    weights          every parameter as training holds it (a 4-bit base: NF4 bytes, see storage.py)
    gradients        one per trainable parameter
    optimizer state  AdamW: 2 moments per trainable parameter (8-bit AdamW: 1 byte each plus an
                     fp32 absmax per block of 2048, Dettmers et al. 2022, "8-bit Optimizers via
                     Block-wise Quantization"); SGD with momentum: 1; plain SGD: 0. Mixed precision
                     adds the fp32 master copy of the trainable weights here, as ZeRO counts it
                     (Rajbhandari et al. 2020: 2 + 2 + 12 = 16 bytes per parameter with Adam).
    activations      what autograd saves in one forward pass (activations.py), for batch x length

Precisions (``PRECISIONS``; pass your own ``Precision`` for anything else):
    fp32   everything 4 bytes
    bf16   weights, gradients and activations 2 bytes, optimizer moments fp32: 2 + 2 + 8 = 12
           bytes per parameter with AdamW, the QLoRA paper's ">780 GB" for 16-bit LLaMA-65B
    mixed  16-bit weights, gradients and activations, fp32 master weights and moments
    nf4    QLoRA: frozen linear weights in NF4, everything else as bf16
The QLoRA method keeps its base in NF4 at every precision (``peft_lab``'s QLoRA in fp32 too).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from ..checks import check_positive_int
from .activations import Walk, activation_bytes, make_plan
from .params import method_of, parameters
from .presets import get
from .storage import nf4_options, quantized_linear_bytes
from .units import human_bytes, table

ATTENTION = ("eager", "flash")
BACKENDS = ("cuda", "peft_lab")   # HF transformers + bitsandbytes on a GPU, or this package on a CPU


@dataclass(frozen=True)
class Precision:
    """Bytes per number for each part of training memory."""
    name: str
    weight_bytes: float          # each weight as held during training
    grad_bytes: float            # each gradient
    state_bytes: float           # each optimizer moment
    activation_bytes: float      # each saved activation
    master_bytes: float = 0.0    # fp32 master copy per trainable weight (mixed precision)
    quantized_base: bool = False  # frozen linear weights in NF4


PRECISIONS = {
    "fp32": Precision("fp32", 4, 4, 4, 4),
    "bf16": Precision("bf16", 2, 2, 4, 2),
    "mixed": Precision("mixed", 2, 2, 4, 2, master_bytes=4),
    "nf4": Precision("nf4", 2, 2, 4, 2, quantized_base=True),
}
OPTIMIZERS = {  # name -> (moments per parameter, bytes per moment or None = the precision's)
    "adamw": (2, None), "adamw8bit": (2, 1 + 4 / 2048), "sgd": (0, None), "sgd_momentum": (1, None)}


@dataclass
class MemoryParts:
    """Training memory in bytes, by part: what the calculator predicts and ``fit`` measures."""
    weights: int = 0          # every parameter and buffer of the model
    gradients: int = 0        # .grad of the trainable parameters
    optimizer_state: int = 0  # e.g. AdamW's two moments per trainable parameter
    activations: int = 0      # tensors saved for the backward pass of one step

    PARTS: ClassVar[tuple[str, ...]] = ("weights", "gradients", "optimizer_state", "activations")

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer_state + self.activations

    def to_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


@dataclass(kw_only=True)
class MemoryReport(MemoryParts):
    """The calculator's prediction for one architecture, method and setting."""
    arch: str
    method: str
    precision: str
    optimizer: str
    batch_size: int
    seq_len: int

    def __str__(self) -> str:
        rows = [(part.replace("_", " "), human_bytes(getattr(self, part)))
                for part in (*self.PARTS, "total")]
        return table(f"training memory: {self.method} on {self.arch}, {self.precision}, {self.optimizer}, "
                     f"batch {self.batch_size} x {self.seq_len} tokens", rows)


def _choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {tuple(allowed)}")
    return value


def training_memory(arch, config=None, precision="fp32", optimizer: str = "adamw", batch_size: int = 1,
                    seq_len: int = 512, gradient_checkpointing: bool = False, num_labels: int | None = None,
                    attention: str = "eager", backend: str = "cuda", dropout: float | None = None,
                    include_loss: bool = False) -> MemoryReport:
    """Memory to train ``config``'s method (``None``: full fine-tuning) on ``arch``, by part.

    ``precision``: a name in ``PRECISIONS`` or a ``Precision``. ``backend="cuda"`` counts
    dropout masks as 1 byte (GPU kernels) and 4-bit matmuls that keep no dequantised weight
    (bitsandbytes); ``"peft_lab"`` is this package on a CPU: masks in the activation dtype and
    ``NF4Linear`` keeping its dequantised weight for the input gradient, and attention without
    dropout on the probabilities taking the fused kernel (as ``attention="flash"``). ``dropout`` overrides
    the architecture's (residual and attention) dropout. ``include_loss`` adds the log-softmax
    the cross-entropy loss keeps (fp32). ``attention="flash"`` keeps no attention matrix.
    """
    arch = get(arch)
    p = PRECISIONS[_choice("precision", precision, PRECISIONS)] if isinstance(precision, str) else precision
    if not isinstance(p, Precision):
        raise TypeError(f"precision must be one of {tuple(PRECISIONS)} or a budget.Precision, got {precision!r}")
    moments, state_bytes = OPTIMIZERS[_choice("optimizer", optimizer, OPTIMIZERS)]
    _choice("attention", attention, ATTENTION)
    _choice("backend", backend, BACKENDS)
    check_positive_int("batch_size", batch_size)
    check_positive_int("seq_len", seq_len)
    if dropout is not None and (isinstance(dropout, bool) or not isinstance(dropout, (int, float))
                                or not 0 <= dropout < 1):
        raise ValueError(f"dropout={dropout!r} must be None (the architecture's) or in [0, 1)")
    method = "full" if config is None else method_of(config)
    virtual = 0 if config is None else config.virtual_tokens(arch)   # soft prompts take L positions
    if seq_len + virtual > arch.max_len:
        raise ValueError(f"seq_len={seq_len} + {virtual} virtual tokens exceeds {arch.name}'s context of "
                         f"{arch.max_len}; allowed seq_len: 1 ... {arch.max_len - virtual}")
    report = parameters(arch, config if config is not None else _Full(), num_labels)

    quantized = p.quantized_base or (config is not None and config.quantizes_base)
    if quantized and method in ("full",):
        raise ValueError(f"a 4-bit (NF4) base cannot be trained: use a PEFT method on it (QLoRA), "
                         f"or precision in {tuple(k for k in PRECISIONS if k != 'nf4')}")
    weights = report.total * p.weight_bytes
    if quantized:
        stored, numel = quantized_linear_bytes(arch, "nf4", nf4_options(config))
        weights = stored + (report.total - numel) * p.weight_bytes
    trainable = report.trainable
    optimizer_state = trainable * (moments * (state_bytes or p.state_bytes) + p.master_bytes)

    plan = make_plan(arch, config, num_labels)
    plan.quantized = quantized
    p_drop = arch.dropout if dropout is None else dropout
    p_attention = arch.attention_dropout if dropout is None else dropout
    # on a CPU, torch's scaled_dot_product_attention takes its fused (flash) kernel unless the
    # attention probabilities need a dropout mask
    fused = attention == "flash" or (backend == "peft_lab" and p_attention == 0)
    walk = Walk(arch, plan, batch_size, p.activation_bytes,
                mask=1 if backend == "cuda" else p.activation_bytes, dropout=p_drop,
                attention_dropout=p_attention, flash=fused, saves_dequantized=backend == "peft_lab")
    activations = activation_bytes(walk, seq_len, num_labels, gradient_checkpointing, include_loss)
    return MemoryReport(arch=arch.name, method=method, precision=p.name, optimizer=optimizer,
                        batch_size=batch_size, seq_len=seq_len, weights=round(weights),
                        gradients=round(trainable * p.grad_bytes), optimizer_state=round(optimizer_state),
                        activations=round(activations))


class _Full:
    """Full fine-tuning, for ``config=None`` (no import of the method configs needed)."""
    method = "full"
