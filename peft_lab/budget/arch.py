"""An architecture as plain data: every linear layer with its native name and shape.

``Architecture`` lists what a transformer holds without building it: stacks of identical
layers (each layer's linear modules, with the names the real implementation uses), the
parameters outside the layers (embeddings, final norms, a pooler) and the output head.
Module names follow HF transformers, so ``target_modules`` selects here exactly what HF PEFT
(and ``peft_lab``) would select: a name matches a module whose full dotted name equals it or
ends with ``"." + name``; one string is a regular expression over the full name; ``"all-linear"``
is every linear layer except the output head.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from ..checks import check_positive_int

ROLES = ("q", "k", "v", "qkv", "o", "up", "gate", "down",
         "cross_q", "cross_k", "cross_v", "cross_o", "other")
FFN_STYLES = ("gelu", "relu", "swiglu")   # the op(s) between the FFN linears
NORMS = ("layernorm", "rmsnorm")
POOLINGS = ("mean", "first", "last")      # what a sequence classifier reads


@dataclass(frozen=True)
class Linear:
    """One linear module: y = x Wᵀ (+ b), W of shape (out_features, in_features)."""
    name: str               # path inside a layer ("self_attn.q_proj"), or the full path outside layers
    in_features: int        # k
    out_features: int       # d
    bias: bool = True
    role: str = "other"     # what it computes (see ROLES): drives adapter placement and activations

    def __post_init__(self):
        for name in ("in_features", "out_features"):
            check_positive_int(name, getattr(self, name), owner=f"Linear {self.name!r}")

    @property
    def params(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


@dataclass(frozen=True)
class Stack:
    """``n_layers`` identical layers; layer i's modules are named ``f"{prefix}.{i}.{linear.name}"``."""
    prefix: str                       # "model.layers", "transformer.h", "encoder.block"
    n_layers: int
    linears: tuple[Linear, ...]
    norm_weights: int                 # per layer: scale parameters of its norms (e.g. 2 x d)
    norm_biases: int = 0              # per layer: bias parameters of its norms (0 for RMSNorm)
    ffn_block: str = "mlp"            # the FFN module inside a layer: where a parallel adapter sits
    cross_attention: bool = False     # decoder layers of an encoder-decoder read the encoder output

    def __post_init__(self):
        check_positive_int("n_layers", self.n_layers, owner=f"Stack {self.prefix!r}")
        if not self.linears:
            raise ValueError(f"Stack {self.prefix!r} has no linear layer")

    @property
    def layer_params(self) -> int:
        return sum(l.params for l in self.linears) + self.norm_weights + self.norm_biases

    @property
    def layer_biases(self) -> int:
        return sum(l.out_features for l in self.linears if l.bias) + self.norm_biases


@dataclass(frozen=True)
class Extra:
    """Parameters outside the layers that are not linear layers: embeddings, final norms, ..."""
    name: str
    numel: int
    kind: str = "other"     # "embedding" (kept 16-bit by int8/NF4 loaders), "norm", "bias" or "other"


@dataclass(frozen=True)
class Architecture:
    """A transformer's exact parameter inventory plus the few facts memory estimates need."""
    name: str
    d_model: int
    n_heads: int
    vocab_size: int
    max_len: int                              # context window (virtual tokens included)
    stacks: tuple[Stack, ...]                 # one stack, or (encoder, decoder)
    extras: tuple[Extra, ...] = ()            # embeddings, final norms, relative position biases
    extra_linears: tuple[Linear, ...] = ()    # linears outside the layers, full names (BERT's pooler.dense)
    lm_head: Linear | None = None             # output projection to the vocabulary; None: no LM head
    tie_word_embeddings: bool = False         # lm_head reuses the token embedding: counted once
    n_kv_heads: int | None = None             # grouped-query attention; None = n_heads
    head_dim: int | None = None               # None = d_model // n_heads
    ffn: str = "gelu"                         # see FFN_STYLES
    norm: str = "layernorm"                   # see NORMS
    dropout: float = 0.0                      # residual / embedding dropout while training
    attention_dropout: float = 0.0            # dropout on the attention probabilities
    learned_positions: bool = False           # a position embedding table looked up by index
    classifier_bias: bool = True              # bias of the sequence-classification head
    classifier_dense: bool = False            # RoBERTa/T5 style: Linear(d, d) before Linear(d, labels)
    classifier_trains: bool = True            # the new classifier trains beside a PEFT method by default:
    #   HF PEFT's default modules_to_save for sequence classification, ["classifier", "score"], names
    #   BERT's and GPT-2/LLaMA's heads but not T5's ``classification_head``, which stays frozen there
    pooling: str = "last"                     # see POOLINGS: token(s) the classifier reads
    source: str = ""                          # where the published parameter count comes from

    def __post_init__(self):
        for name in ("d_model", "n_heads", "vocab_size", "max_len"):
            check_positive_int(name, getattr(self, name), owner=f"Architecture {self.name!r}")
        for name, value, allowed in (("ffn", self.ffn, FFN_STYLES), ("norm", self.norm, NORMS),
                                     ("pooling", self.pooling, POOLINGS)):
            if value not in allowed:
                raise ValueError(f"Architecture {self.name!r}: {name}={value!r} is not one of {allowed}")
        if not self.stacks:
            raise ValueError(f"Architecture {self.name!r} has no stack of layers")
        for linear in self.all_linears():
            if linear.role not in ROLES:
                raise ValueError(f"Architecture {self.name!r}: {linear.name} has role={linear.role!r}; "
                                 f"allowed: {ROLES}")

    # -- shapes ------------------------------------------------------------------------------
    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def hd(self) -> int:
        return self.head_dim or self.d_model // self.n_heads

    @property
    def kv_dim(self) -> int:
        """Width of one layer's keys (and values): n_kv_heads x head_dim (GQA shrinks it)."""
        return self.kv_heads * self.hd

    @property
    def n_layers(self) -> int:
        """Layers of the first stack: what HF PEFT calls num_layers (T5: the encoder's)."""
        return self.stacks[0].n_layers

    @property
    def encoder_decoder(self) -> bool:
        return any(s.cross_attention for s in self.stacks)

    def all_linears(self):
        for stack in self.stacks:
            yield from stack.linears
        yield from self.extra_linears

    # -- counts ------------------------------------------------------------------------------
    @functools.cached_property
    def body_params(self) -> int:
        """Everything but the output head."""
        return (sum(s.n_layers * s.layer_params for s in self.stacks)
                + sum(e.numel for e in self.extras) + sum(l.params for l in self.extra_linears))

    @property
    def lm_head_params(self) -> int:
        """Parameters the LM head adds (0 when it is tied to the token embedding)."""
        if self.lm_head is None or self.tie_word_embeddings:
            return 0
        return self.lm_head.params

    def classifier_params(self, num_labels: int) -> int:
        d, b = self.d_model, self.classifier_bias
        dense = d * d + d if self.classifier_dense else 0
        return dense + d * num_labels + (num_labels if b else 0)

    def total_params(self, num_labels: int | None = None) -> int:
        """The base model: with its LM head, or with a ``num_labels`` classifier in its place."""
        if num_labels is None:
            return self.body_params + self.lm_head_params
        return self.body_params + self.classifier_params(num_labels)

    @functools.cached_property
    def bias_params(self) -> int:
        """Every bias vector of the body (linear layers and norms): what BitFit trains."""
        return (sum(s.n_layers * s.layer_biases for s in self.stacks)
                + sum(e.numel for e in self.extras if e.kind == "bias")
                + sum(l.out_features for l in self.extra_linears if l.bias))

    @functools.cached_property
    def embedding_params(self) -> int:
        return sum(e.numel for e in self.extras if e.kind == "embedding")


# ------------------------------------------------------------------------------- selection

@dataclass(frozen=True)
class Match:
    """Linear ``linear`` of stack ``stack`` (-1: outside the layers; -2: the LM head) in ``layers``."""
    stack: int
    linear: Linear
    layers: tuple[int, ...] = field(default=(0,))

    @property
    def count(self) -> int:
        return len(self.layers)


def _name_matches(full: str, target: str) -> bool:
    return full == target or full.endswith("." + target)


def _candidates(arch: Architecture, with_head: bool):
    """(stack index, Linear, full-name function) for every linear module."""
    for i, stack in enumerate(arch.stacks):
        for linear in stack.linears:
            yield i, linear, (lambda n, p=stack.prefix, l=linear.name: f"{p}.{n}.{l}"), stack.n_layers
    for linear in arch.extra_linears:
        yield -1, linear, (lambda n, l=linear.name: l), 1
    if with_head and arch.lm_head is not None:
        yield -2, arch.lm_head, (lambda n, l=arch.lm_head.name: l), 1


@functools.lru_cache(maxsize=512)
def _select(arch: Architecture, targets) -> tuple[Match, ...]:
    found = []
    for stack, linear, full, n in _candidates(arch, with_head=targets != "all-linear"):
        if targets == "all-linear":
            layers = range(n)
        elif isinstance(targets, str):          # a regular expression over the full name
            pattern = re.compile(targets)
            layers = [i for i in range(n) if pattern.fullmatch(full(i))]
        elif any(_name_matches(linear.name, target) for target in targets):   # every layer's copy matches
            layers = range(n)
        else:   # a longer target may name particular layers: "model.layers.3.self_attn.q_proj"
            layers = [i for i in range(n) if any(_name_matches(full(i), target) for target in targets
                                                 if len(target) > len(linear.name))]
        if layers:
            found.append(Match(stack, linear, tuple(layers)))
    return tuple(found)


def normalize_targets(field: str, value) -> tuple[str, ...] | str:
    """target_modules may be a sequence of names, one string (a regex) or "all-linear".

    Shared with the real injection (``methods.base``), so the calculator and the model accept
    exactly the same inputs."""
    if isinstance(value, str):
        return value
    try:
        value = tuple(value)
    except TypeError:
        raise TypeError(f"{field}={value!r} must be a string or a sequence of module names") from None
    if not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{field}={value!r} must name at least one module")
    return value


def select(arch: Architecture, targets, field: str = "target_modules") -> tuple[Match, ...]:
    """The linear modules ``targets`` selects, as HF PEFT would select them (see module doc)."""
    targets = normalize_targets(field, targets)
    found = _select(arch, targets)
    if not found:
        raise ValueError(f"{field}={targets!r} matches no linear module of {arch.name}; "
                         f"{what_exists(field, targets, [l.name for l in arch.all_linears()])}")
    return found


def what_exists(field: str, target_modules, candidates: list[str]) -> str:
    """The end of a "matches nothing" message: the names that exist and, for one string, how it is
    read (the usual surprise: "q_proj" as a string must match the whole name, so it matches nothing)."""
    short = sorted({n.rsplit(".", 1)[-1] for n in candidates})
    if not candidates:
        return "the model has no module of that type outside the task head"
    if not isinstance(target_modules, str):
        return f"module names that exist: {short}"
    parts = target_modules.split("|")  # "q_proj" or "q_proj|v_proj": plain names, meant as a list
    plain = all(re.fullmatch(r"[\w.]+", p) for p in parts)
    names = tuple(parts) if plain else tuple(short[:2])
    examples = [n for n in candidates if plain and any(n.endswith("." + p) for p in names)] or candidates
    return (f"a single string is read as a regular expression that must match the full module name "
            f"(re.fullmatch, as in HF PEFT), such as {', '.join(repr(n) for n in examples[:3])}. "
            f"To select modules by their last name, pass a tuple{'' if plain else ' of names, e.g.'}: "
            f"{field}={names!r}; module names that exist: {short}")

