"""The same LoRA written with HF PEFT (``peft``, the library you will use on real models).

``to_hf_peft(model, base)`` builds HF PEFT's version of a peft_lab LoRA model: the same
``LoraConfig`` (r, lora_alpha, target_modules, rsLoRA/DoRA), the task head kept trainable and
saved with the adapter (``modules_to_save``), and the trained A, B and head copied over, so the
two can be compared output for output. HF PEFT is an optional dependency (the ``dev`` extra):
``pip install peft``.

    theirs = to_hf_peft(ours, pl.load_pretrained("cls", 2))
    theirs(ids, attention_mask=mask)            # equals ours(ids, attention_mask=mask)
    merged = theirs.merge_and_unload()          # equals pl.merge(ours)
"""
from __future__ import annotations

import torch
from torch import nn

from .io import _shape_of
from .methods.base import head_names
from .methods.dora import DoRALinear
from .methods.lora import LoRAConfig, LoRALinear


def hf_lora_config(model: nn.Module):
    """HF PEFT's ``LoraConfig`` for the LoRA applied to ``model``. Targets are listed by full
    name (HF PEFT's ``"all-linear"`` only works on transformers models)."""
    import peft
    config = getattr(model, "peft_config", None)
    if not isinstance(config, LoRAConfig):
        raise ValueError(f"to_hf_peft needs a model with pl.LoRAConfig applied, this one has "
                         f"{getattr(config, 'method', 'no method')}")
    targets = [n for n, m in model.named_modules() if isinstance(m, LoRALinear)]
    return peft.LoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules=targets,
                           use_rslora=config.use_rslora, use_dora=config.use_dora,
                           modules_to_save=list(head_names(model)))


def to_hf_peft(model: nn.Module, base: nn.Module):
    """HF PEFT's ``PeftModel`` around ``base`` (a fresh base of the same shape and head) holding
    the same LoRA weights and head as the peft_lab ``model``."""
    import peft
    lora_config = hf_lora_config(model)
    if getattr(base, "peft_config", None) is not None or _shape_of(base) != _shape_of(model):
        raise ValueError(f"base must be a fresh model of the same shape and head as the one LoRA was applied to "
                         f"(e.g. pl.load_pretrained with the same head and num_labels): base {_shape_of(base)}, "
                         f"model {_shape_of(model)}")
    theirs = peft.get_peft_model(base, lora_config)
    layers = {n.removeprefix("base_model.model."): m for n, m in theirs.named_modules()
              if isinstance(m, peft.tuners.lora.LoraLayer)}
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, LoRALinear):
                layers[name].lora_A["default"].weight.copy_(m.A)
                layers[name].lora_B["default"].weight.copy_(m.B)
                if isinstance(m, DoRALinear):
                    layers[name].lora_magnitude_vector["default"].weight.copy_(m.m)
        for h in head_names(model):
            wrapper = theirs.base_model.model.get_submodule(h)
            wrapper.modules_to_save["default"].load_state_dict(model.get_submodule(h).state_dict())
    return theirs.eval()


__all__ = ["hf_lora_config", "to_hf_peft"]
