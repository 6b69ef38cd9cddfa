"""Save and load adapters: safetensors for the tensors, JSON for the config. Nothing is unpickled.

An adapter directory holds ``adapter_config.json`` (method, config, the base model's shape,
and any method state such as "the prefix MLP has been folded") and ``adapter_model.safetensors``
(only the tensors the method added or trained, plus the task head).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from . import methods
from .methods.base import PeftLayer, head_is_new, head_names

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
FORMAT_VERSION = 1


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every tensor that makes this model differ from its base: what the method added or trained."""
    names: dict[str, torch.Tensor] = {}
    base_ids: set[int] = set()
    for _, layer in model.named_modules():
        if isinstance(layer, PeftLayer):
            base_ids |= {id(tensor) for tensor in [*layer.base.parameters(), *layer.base.buffers()]}
    added_modules = [(n, m) for n, m in model.named_modules() if isinstance(m, PeftLayer)]
    if getattr(model, "soft_prompt", None) is not None:
        added_modules.append(("soft_prompt", model.soft_prompt))
    if head_is_new(model):
        added_modules += [(h, model.get_submodule(h)) for h in head_names(model)]
    for prefix, module in added_modules:
        for n, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if id(tensor) not in base_ids:
                names[f"{prefix}.{n}"] = tensor
    for n, p in model.named_parameters():
        if p.requires_grad:
            names.setdefault(n, p)
    return {n: tensor.detach().contiguous() for n, tensor in names.items()}


def _shape_of(model: nn.Module) -> dict:
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "to_dict"):
        d = cfg.to_dict()
        d.pop("dropout", None)
        return d
    return {"class": type(model).__name__}


def save_adapter(model: nn.Module, path, overwrite: bool = False) -> Path:
    """Write the adapter of ``model`` to the directory ``path``; refuses to overwrite unless asked."""
    config = getattr(model, "peft_config", None)
    if config is None:
        raise ValueError("this model has no PEFT method applied: nothing to save as an adapter")
    path = Path(path)
    existing = [f for f in (CONFIG_FILE, WEIGHTS_FILE) if (path / f).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{path} already holds an adapter ({', '.join(existing)}); "
                              f"pass overwrite=True to replace it, or choose another directory")
    meta = {"format_version": FORMAT_VERSION, "method": config.method, "config": config.to_dict(),
            "base_model": _shape_of(model), "state": config.adapter_state(model)}
    tensors = adapter_state_dict(model)
    path.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path / WEIGHTS_FILE), metadata={"method": config.method})
    (path / CONFIG_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def read_adapter_config(path) -> dict:
    """The description saved with an adapter (method, config, base model shape, method state),
    checked: a damaged or foreign file is named with what is wrong with it."""
    return _read_config(Path(path))[0]


# what pl.save_adapter writes into adapter_config.json, and the JSON type of each entry ("state",
# the method's own, may be left out: it then means "as after pl.apply")
CONFIG_SCHEMA = {"format_version": int, "method": str, "config": dict, "base_model": dict, "state": dict}
JSON_TYPES = {int: "a number", str: "a string", dict: "an object {...}", list: "a list [...]",
              float: "a number", bool: "true/false", type(None): "null"}


def _read_config(path: Path) -> tuple[dict, methods.PeftConfig]:
    """(meta, config) from ``path/adapter_config.json``; every problem names the file."""
    file = path / CONFIG_FILE
    if not file.exists():
        raise FileNotFoundError(f"no {CONFIG_FILE} in {path}: not an adapter saved by pl.save_adapter")
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{file} is not text (byte {e.start} is not UTF-8): the file is damaged or is not "
                         f"the adapter_config.json that pl.save_adapter writes") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"{file} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}): the "
                         f"file is damaged or was edited by hand; save the adapter again") from e
    if not isinstance(meta, dict):
        raise ValueError(f"{file} holds {JSON_TYPES.get(type(meta), type(meta).__name__)}, not the object "
                         f"with keys {list(CONFIG_SCHEMA)} that pl.save_adapter writes")
    version = meta.get("format_version")
    if "format_version" in meta and (isinstance(version, bool) or version != FORMAT_VERSION):
        raise ValueError(f"{file}: format_version={version!r}, this peft_lab reads {FORMAT_VERSION}")
    meta.setdefault("state", {})
    missing = [k for k in CONFIG_SCHEMA if k not in meta]
    if "peft_type" in meta:  # the same file name, written by HF PEFT
        raise ValueError(f"{file} is HF PEFT's adapter config (peft_type={meta['peft_type']!r}); "
                         f"pl.load_adapter reads adapters written by pl.save_adapter")
    if missing:
        raise ValueError(f"{file} has no {missing}: the adapter config pl.save_adapter writes holds "
                         f"{list(CONFIG_SCHEMA)}")
    for key, kind in CONFIG_SCHEMA.items():
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            raise ValueError(f"{file}: {key!r} is {JSON_TYPES.get(type(meta[key]), type(meta[key]).__name__)}, "
                             f"where pl.save_adapter writes {JSON_TYPES[kind]}")
    try:
        config = methods.config_from_dict(meta["method"], meta["config"])
    except (ValueError, TypeError) as e:
        raise ValueError(f"{file}: 'method' and 'config' do not describe a valid adapter: {e}") from e
    return meta, config


def _read_weights(path: Path) -> tuple[dict[str, torch.Tensor], str | None]:
    """(tensors, the method recorded in the file's metadata) from ``path/adapter_model.safetensors``."""
    file = path / WEIGHTS_FILE
    if not file.exists():
        raise FileNotFoundError(f"no {WEIGHTS_FILE} in {path}: the adapter's tensors are missing "
                                f"(pl.save_adapter writes it beside {CONFIG_FILE})")
    if file.stat().st_size == 0:
        raise ValueError(f"{file} is empty (0 bytes): the copy or save did not finish; save the adapter again")
    try:
        with safe_open(str(file), "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, (f.metadata() or {}).get("method")
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{file} is not a readable safetensors file ({e}): it is truncated or damaged, "
                         f"for example by an interrupted copy or download; save the adapter again") from e


def load_adapter(model: nn.Module, path) -> nn.Module:
    """Apply the saved method to ``model`` (a fresh base) and load its tensors; returns ``model``."""
    path = Path(path)
    meta, config = _read_config(path)
    method = meta["method"]
    current = getattr(model, "peft_config", None)
    if current is not None:
        raise ValueError(f"the model already has {current.method} applied; the adapter in {path} is "
                         f"{method}: load adapters into a fresh base model")
    saved_shape, shape = meta["base_model"], _shape_of(model)
    diff = {k: (saved_shape[k], shape.get(k)) for k in saved_shape if saved_shape[k] != shape.get(k)}
    if diff:
        detail = ", ".join(f"{k}: adapter {a!r} vs model {b!r}" for k, (a, b) in diff.items())
        raise ValueError(f"the adapter in {path} was saved for another base model ({detail})")
    tensors, weights_method = _read_weights(path)
    if weights_method != method:
        raise ValueError(f"{path / WEIGHTS_FILE} holds tensors of {weights_method!r} but {CONFIG_FILE} "
                         f"describes {method!r}: the two files come from different adapters")
    methods.apply(model, config)
    try:
        _load_tensors(model, path, meta, tensors)
    except Exception:
        methods.remove(model)  # a failed load gives the model back without the method
        raise
    return model


def _load_tensors(model: nn.Module, path, meta: dict, tensors: dict[str, torch.Tensor]) -> None:
    method = meta["method"]
    try:
        model.peft_config.restore_state(model, meta["state"])
    except (ValueError, TypeError) as e:
        raise ValueError(f"{Path(path) / CONFIG_FILE}: its 'state' {meta['state']!r} does not fit "
                         f"{method} on this model: {e}") from e
    expected = adapter_state_dict(model)
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ValueError(f"the tensors in {path} do not fit {method} on this model: "
                         f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise ValueError(f"tensor {name}: the adapter has shape {tuple(tensor.shape)}, "
                             f"this model expects {tuple(expected[name].shape)}")
    with torch.no_grad():
        params = dict(model.named_parameters()) | dict(model.named_buffers())
        for name, tensor in tensors.items():
            params[name].copy_(tensor)
