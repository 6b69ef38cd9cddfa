"""Trainable parameters of every PEFT method, from the architecture's shapes alone.

The config objects are read by attribute (``config.method``, ``config.r``, ...), so this module
needs neither torch nor the method implementations. Counts follow HF PEFT's
``print_trainable_parameters`` for the same model and config (and ``peft_lab``'s own modules):

  lora / dylora / qlora   r (d + k) per target, + d with DoRA (the magnitude vector)
  adalora                 init_r (d + k + 1) per target (P, Λ, Q)
  adapter                 2 d m + d + m per adapter
  prompt_tuning           L d  (x 2 on an encoder-decoder LM: one prompt per stack, as HF)
  p_tuning                L d + the prompt encoder (MLP or 2-layer BiLSTM + MLP)
  prefix_tuning           L t + (t h + h) + (h 2 n t + 2 n t) while training, L 2 n t folded
  p_tuning_v2             L 2 n t
  ia3                     out_features per target, in_features per feed-forward target
  bitfit                  every bias of the body (0 for bias-free LLaMA)

(d, k: a layer's output and input widths; t: the key/value width, d_model or n_kv_heads x
head_dim under grouped-query attention, as HF PEFT's prefix encoder uses; n: layers.)
With ``num_labels`` the model gets a new classifier in place of its LM head, which trains beside
the method as HF PEFT's default ``modules_to_save`` for sequence classification does (``classifier``,
``score``): on BERT, GPT-2, LLaMA and peft_lab's model, but not T5's ``classification_head``
(``Architecture.classifier_trains``; ``train_head=`` says otherwise).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..checks import check_positive_int
from .arch import Architecture, Linear, Match, select
from .presets import get
from .units import human_count, table

METHODS = ("full", "head_only", "bitfit", "lora", "dylora", "adalora", "qlora", "adapter",
           "prompt_tuning", "p_tuning", "prefix_tuning", "p_tuning_v2", "ia3")
ADAPTER_PLACEMENTS = {"houlsby": ("o", "down"), "pfeiffer": ("down",), "parallel": ()}


def method_of(config) -> str:
    method = getattr(config, "method", None)
    if method not in METHODS:
        raise ValueError(f"unknown PEFT method {method!r} (from {type(config).__name__}); the budget "
                         f"knows: {METHODS}. Pass a config such as pl.LoRAConfig(...)")
    return method


# ----------------------------------------------------------------------------- the LoRA family

def check_rank(arch: Architecture, matches, r: int, field: str) -> None:
    """A rank above min(d, k) cannot be reached by d x k matrices: refuse it (as peft_lab does)."""
    for m in matches:
        lin = m.linear
        if r > min(lin.in_features, lin.out_features):
            raise ValueError(f"{field}={r} exceeds the rank limit min(d={lin.out_features}, k={lin.in_features})"
                             f" = {min(lin.in_features, lin.out_features)} of {lin.name} in {arch.name}; "
                             f"allowed: 1 ... {min(lin.in_features, lin.out_features)}")


def lora_params(arch: Architecture, config) -> int:
    """LoRA, DyLoRA (at its largest rank) and QLoRA: A (r x k) + B (d x r), + m (d) with DoRA."""
    r = check_positive_int("r", config.r, owner=config.method)
    matches = select(arch, config.target_modules)
    check_rank(arch, matches, r, "r")
    dora = bool(getattr(config, "use_dora", False))
    return sum(m.count * (r * (m.linear.in_features + m.linear.out_features)
                          + (m.linear.out_features if dora else 0)) for m in matches)


def adalora_params(arch: Architecture, config) -> int:
    """P (d x r) + Λ (r) + Q (r x k) at init_r. HF PEFT also lists a constant ``ranknum`` scalar per
    layer as trainable (one more per target); it is not a learned parameter and not counted here."""
    r = check_positive_int("init_r", config.init_r, owner="adalora")
    matches = select(arch, config.target_modules)
    check_rank(arch, matches, r, "init_r")
    return sum(m.count * r * (m.linear.in_features + m.linear.out_features + 1) for m in matches)


def ia3_params(arch: Architecture, config) -> int:
    matches = select(arch, config.target_modules)
    ff = config.feedforward_modules
    ff_ids = set() if ff in ((), [], None) else {(m.stack, m.linear) for m in select(arch, ff, "feedforward_modules")}
    return sum(m.count * (m.linear.in_features if (m.stack, m.linear) in ff_ids else m.linear.out_features)
               for m in matches)


# ----------------------------------------------------------------------------- adapters

def adapter_sites(arch: Architecture, config) -> list[tuple[Match, int]]:
    """(site, width d) of every adapter: after the attention output and/or the FFN (by role) by
    default, or where ``target_modules`` says (a parallel adapter may name the FFN block)."""
    placement = getattr(config, "placement", "houlsby")
    if placement not in ADAPTER_PLACEMENTS:
        raise ValueError(f"adapter: placement={placement!r} is not one of {tuple(ADAPTER_PLACEMENTS)}")
    targets = getattr(config, "target_modules", None)
    if targets is None:
        if placement == "parallel":   # one beside every FFN block, of the residual width d_model
            return _ffn_blocks(arch, None)
        roles = ADAPTER_PLACEMENTS[placement]
        return [(Match(i, l, tuple(range(s.n_layers))), l.out_features)
                for i, s in enumerate(arch.stacks) for l in s.linears if l.role in roles]
    if placement == "parallel" and targets != "all-linear":
        blocks = _ffn_blocks(arch, (targets,) if isinstance(targets, str) else tuple(targets))
        if blocks:
            return blocks
    sites = [(m, m.linear.out_features) for m in select(arch, targets)]
    if placement == "parallel":
        for m, _ in sites:
            if m.linear.in_features != m.linear.out_features:
                raise ValueError(f"a parallel adapter needs a d -> d target; {m.linear.name} maps "
                                 f"{m.linear.in_features} -> {m.linear.out_features}")
    return sites


def _ffn_blocks(arch: Architecture, names) -> list[tuple[Match, int]]:
    """The FFN block of every layer (all, or those whose block name is in ``names``) as d -> d sites."""
    return [(Match(i, Linear(s.ffn_block, arch.d_model, arch.d_model), tuple(range(s.n_layers))), arch.d_model)
            for i, s in enumerate(arch.stacks)
            if names is None or any(s.ffn_block == t or s.ffn_block.endswith("." + t) for t in names)]


def adapter_params(arch: Architecture, config) -> int:
    m = check_positive_int("bottleneck", config.bottleneck, owner="adapter")
    total = 0
    for site, d in adapter_sites(arch, config):
        if m >= d:
            raise ValueError(f"adapter: bottleneck={m} must be smaller than the width d={d} of "
                             f"{site.linear.name} (allowed: 1 ... {d - 1})")
        total += site.count * (2 * d * m + d + m)   # W_down (m x d) + b_down (m) + W_up (d x m) + b_up (d)
    return total


# ----------------------------------------------------------------------------- soft prompts

def virtual_tokens(arch: Architecture, config) -> int:
    L = check_positive_int("num_virtual_tokens", config.num_virtual_tokens, owner=config.method)
    if L >= arch.max_len:
        raise ValueError(f"{config.method}: num_virtual_tokens={L} leaves no room for text in {arch.name}'s "
                         f"context of {arch.max_len} tokens; allowed: 1 ... {arch.max_len - 1}")
    return L


def prompt_copies(arch: Architecture, num_labels) -> int:
    """HF PEFT's num_transformer_submodules: 2 for an encoder-decoder LM (one prompt per stack)."""
    return 2 if arch.encoder_decoder and num_labels is None else 1


def prompt_encoder_params(d: int, h: int, encoder: str) -> int:
    """HF PEFT's PromptEncoder (P-Tuning): MLP d-h-h-d, or a 2-layer BiLSTM(d, h) + MLP 2h-2h-d."""
    if encoder == "mlp":
        return (d * h + h) + (h * h + h) + (h * d + d)
    if encoder == "lstm":   # per direction and layer: 4h x input + 4h x h + two 4h biases
        lstm = 2 * (4 * h * d + 4 * h * h + 8 * h) + 2 * (4 * h * 2 * h + 4 * h * h + 8 * h)
        return lstm + (2 * h * 2 * h + 2 * h) + (2 * h * d + d)
    raise ValueError(f"p_tuning: encoder={encoder!r} is not one of ('mlp', 'lstm')")


def soft_prompt_params(arch: Architecture, config, num_labels, folded: bool) -> int:
    L, d, method = virtual_tokens(arch, config), arch.d_model, config.method
    if method in ("prompt_tuning", "p_tuning"):
        prompt = prompt_copies(arch, num_labels) * L * d
        if method == "prompt_tuning" or folded:
            return prompt
        h = check_positive_int("encoder_hidden_size", config.encoder_hidden_size, owner=method)
        return prompt + prompt_encoder_params(d, h, config.encoder)
    t, n = arch.kv_dim, arch.n_layers                  # HF: token_dim = n_kv_heads x head_dim
    prefix = L * 2 * n * t
    if method == "p_tuning_v2" or not config.projection or folded:
        return prefix
    h = check_positive_int("encoder_hidden_size", config.encoder_hidden_size, owner=method)
    return L * t + (t * h + h) + (h * 2 * n * t + 2 * n * t)   # P' -> Linear(t, h) -> Tanh -> Linear(h, 2nt)


# ----------------------------------------------------------------------------- report

@dataclass(frozen=True)
class ParamReport:
    """Parameters of one method on one architecture."""
    arch: str
    method: str
    base: int               # the base model (with the classifier when num_labels is given)
    added: int              # parameters the method adds, as trained
    trainable: int          # what trains: added + existing ones the method unfreezes (+ classifier)
    folded: int | None = None   # trainable after folding a training-only reparameterisation

    @property
    def total(self) -> int:
        return self.base + self.added

    @property
    def share(self) -> float:
        return self.trainable / self.total

    def __str__(self) -> str:
        rows = [("base model", human_count(self.base)), ("added by the method", human_count(self.added)),
                ("trainable", human_count(self.trainable)), ("trainable share", f"{100 * self.share:.3g} %")]
        if self.folded is not None:
            rows.append(("after folding", human_count(self.folded)))
        return table(f"{self.method} on {self.arch}: {self.trainable:,} trainable parameters", rows)


def _method_params(arch: Architecture, config, num_labels, folded: bool) -> tuple[int, int]:
    """(added, existing parameters unfrozen) for the method, not counting the classifier."""
    method = method_of(config)
    if method == "full":
        return 0, arch.total_params(num_labels)
    if method == "head_only":
        if num_labels is not None:
            return 0, 0
        if arch.lm_head is None:
            raise ValueError(f"head_only: {arch.name} has no output head; pass num_labels=... for a classifier")
        return 0, arch.lm_head.params
    if method == "bitfit":   # every bias; LLaMA-family models have none, so BitFit trains 0 of theirs
        head = arch.lm_head if num_labels is None else None
        return 0, arch.bias_params + (head.out_features if head is not None and head.bias else 0)
    if method in ("lora", "dylora", "qlora"):
        return lora_params(arch, config), 0
    if method == "adalora":
        return adalora_params(arch, config), 0
    if method == "adapter":
        return adapter_params(arch, config), 0
    if method == "ia3":
        return ia3_params(arch, config), 0
    return soft_prompt_params(arch, config, num_labels, folded), 0


def head_trains(arch: Architecture, method: str, train_head: bool | None = None) -> bool:
    """Whether a new classifier trains beside ``method``: ``train_head``, or by default the
    architecture's ``classifier_trains`` (HF PEFT's ``modules_to_save``); head_only always does."""
    if train_head is not None and not isinstance(train_head, bool):
        raise TypeError(f"train_head={train_head!r} must be True, False or None (the architecture's default)")
    if method in ("full", "head_only"):
        if train_head is False:
            raise ValueError(f"train_head=False contradicts method={method!r}, which trains the classifier")
        return True
    return arch.classifier_trains if train_head is None else train_head


def parameters(arch, config=None, num_labels: int | None = None, train_head: bool | None = None) -> ParamReport:
    """Base, added and trainable parameters of ``config``'s method on ``arch`` (a report).
    ``train_head``: whether the ``num_labels`` classifier trains (None: as HF PEFT, see above)."""
    arch = get(arch)
    if num_labels is not None:
        check_positive_int("num_labels", num_labels, owner="parameters")
    if config is None:
        total = arch.total_params(num_labels)
        return ParamReport(arch.name, "base model", total, 0, 0)
    trains = num_labels is not None and head_trains(arch, config.method, train_head)
    added, existing = _method_params(arch, config, num_labels, folded=False)
    head = arch.classifier_params(num_labels) if trains and config.method != "full" else 0  # full: in `existing`
    folded = None
    if config.method == "p_tuning" or (config.method == "prefix_tuning" and config.projection):
        folded = _method_params(arch, config, num_labels, folded=True)[0] + head
    return ParamReport(arch.name, config.method, arch.total_params(num_labels), added, added + existing + head, folded)


def count(arch, config=None, num_labels: int | None = None, folded: bool = False,
          train_head: bool | None = None) -> int:
    """``count(arch)``: the base model's parameters. ``count(arch, config)``: what the method trains.

    ``arch`` is a preset name (``budget.PRESETS``) or an ``Architecture``; ``num_labels`` puts a
    classifier in place of the LM head, trained beside the method where HF PEFT trains it (not
    T5's; ``train_head=True/False`` decides instead); ``folded=True`` counts P-Tuning
    and prefix tuning after their reparameterisation is folded away (what inference keeps).
    """
    report = parameters(arch, config, num_labels, train_head)
    if config is None:
        return report.base
    return report.folded if folded and report.folded is not None else report.trainable
