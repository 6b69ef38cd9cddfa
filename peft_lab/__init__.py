"""peft_lab: parameter-efficient fine-tuning, implemented for real on a tiny Chinese transformer.

    import peft_lab as pl
    model = pl.load_pretrained(head="cls", num_labels=2)
    model = pl.apply(model, pl.LoRAConfig(r=8, alpha=16, target_modules=("q_proj", "v_proj")))
    result = pl.fit(model, task="sentiment", steps=300, lr=2e-3, seed=0)

The sentiment classifier has 1.34 M parameters (1.85 M with the language-model head).
"""
try:  # a plain message for the commonest first-day mistake: a Python without this suite's packages
    import torch  # noqa: F401
except ModuleNotFoundError as e:
    if e.name != "torch":
        raise
    import sys
    _fix = (f"peft_lab needs PyTorch (the torch package), which this Python ({sys.executable}) does not have. "
            "In the repository run `python3 dev.py lab` (it creates .venv with every dependency), then use "
            "`.venv/bin/python` (Windows: `.venv\\Scripts\\python`), or `pip install -e .` in your own environment.")
    if sys.argv[:1] == ["-m"]:  # `python -m peft_lab...`: runpy imports this package before the module runs
        raise SystemExit(_fix) from None
    raise ModuleNotFoundError(_fix, name="torch") from None
from . import budget, data, i18n, tasks
from .hub import load_pretrained
from .i18n import set_language
from .io import load_adapter, read_adapter_config, save_adapter
from .methods import REGISTRY, apply, count_parameters, merge, remove, unmerge
from .methods import *  # noqa: F401,F403  every registered method's config: pl.LoRAConfig, pl.AdapterConfig, ...
from .methods.loraplus import loraplus_optimizer
from .methods.soft_prompt import fold
from .model import ModelConfig, TinyTransformer, VirtualTokens
from .train import RunResult, TrainingHook, TrainingWarning, fit, set_seed

__version__ = "0.1.0"

__all__ = [
    "budget", "data", "i18n", "tasks",
    "load_pretrained", "set_language", "load_adapter", "read_adapter_config", "save_adapter",
    "REGISTRY", "apply", "count_parameters", "merge", "remove", "unmerge", "fold", "loraplus_optimizer",
    *(config.__name__ for config in REGISTRY.values()),   # the config of every method, from the registry
    "ModelConfig", "TinyTransformer", "VirtualTokens", "RunResult", "TrainingHook", "TrainingWarning", "fit",
    "set_seed",
]
