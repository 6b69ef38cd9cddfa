"""Trainable parameters of every PEFT method, from the architecture's shapes alone.

Each method's formula lives with the method, on its config (``trainable_parameters`` of the
``PeftConfig`` protocol, in ``peft_lab/methods/<method>.py``), next to the code it counts; this
module asks the config and adds the classifier. So it needs neither torch nor the method
implementations: a config object carries its formula. Counts follow HF PEFT's
``print_trainable_parameters`` for the same model and config (and ``peft_lab``'s own modules):

  lora / dylora / qlora   r (d + k) per target, + d with DoRA (the magnitude vector)
  adalora                 init_r (d + k + 1) per target (P, Λ, Q)
  adapter                 2 d m + d + m per adapter
  prompt_tuning           L d  (x 2 on an encoder-decoder LM: one prompt per stack, as HF)
  p_tuning                L d + the prompt encoder (MLP or 2-layer BiLSTM + MLP)
  prefix_tuning           L d_kv + (d_kv h + h) + (h 2 n d_kv + 2 n d_kv) while training, L 2 n d_kv folded
  p_tuning_v2             L 2 n d_kv
  ia3                     out_features per target, in_features per feed-forward target
  bitfit                  every bias of the body (0 for bias-free LLaMA)

(d, k: a layer's output and input widths; d_kv: the key/value width, d_model or n_kv_heads x
head_dim under grouped-query attention, as HF PEFT's prefix encoder uses; n: layers.)
With ``num_labels`` the model gets a new classifier in place of its LM head, which trains beside
the method as HF PEFT's default ``modules_to_save`` for sequence classification does (``classifier``,
``score``): on BERT, GPT-2, LLaMA and peft_lab's model, but not T5's ``classification_head``
(``Architecture.classifier_trains``; ``train_head=`` says otherwise).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..checks import check_positive_int
from .arch import Architecture
from .presets import get
from .units import human_count, table


def method_of(config) -> str:
    """The registry name of a method config, which must carry its formula (a ``PeftConfig``), or
    "full" for a bare stand-in of full fine-tuning (an object whose ``method`` is "full")."""
    method = getattr(config, "method", None)
    if method != "full" and (not isinstance(method, str)
                             or not callable(getattr(type(config), "trainable_parameters", None))):
        raise ValueError(f"{config!r} (a {type(config).__name__}, method {method!r}) is not a PEFT method config; "
                         f"pass the config of a method of pl.REGISTRY, such as pl.LoRAConfig(...) for 'lora'")
    return method


def virtual_tokens(arch: Architecture, config) -> int:
    """L = ``config.num_virtual_tokens``, which must leave room for text in the context."""
    L = check_positive_int("num_virtual_tokens", config.num_virtual_tokens, owner=config.method)
    if L >= arch.max_len:
        raise ValueError(f"{config.method}: num_virtual_tokens={L} leaves no room for text in {arch.name}'s "
                         f"context of {arch.max_len} tokens; allowed: 1 ... {arch.max_len - 1}")
    return L


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
    if method_of(config) == "full" and not hasattr(type(config), "trainable_parameters"):
        return 0, arch.total_params(num_labels)   # budget.memory's torch-free stand-in for full fine-tuning
    return config.trainable_parameters(arch, num_labels=num_labels, folded=folded)


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
    if getattr(config, "foldable", False):   # P-Tuning's encoder, prefix tuning's MLP: training-only
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
