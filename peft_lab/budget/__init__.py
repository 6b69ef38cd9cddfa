"""The PEFT calculator: parameters, storage and training memory of real architectures, by arithmetic.

    from peft_lab import budget
    budget.count("llama-7b")                                   # 6_738_415_616
    budget.count("llama-7b", pl.LoRAConfig(r=8, target_modules=("q_proj", "v_proj")))  # 4_194_304
    print(budget.storage("llama-7b", pl.LoRAConfig(r=8), dtype="bf16", n_tasks=10))
    print(budget.training_memory("llama-7b", pl.QLoRAConfig(r=64), precision="nf4", seq_len=512))

Nothing here builds a model or imports torch: the architectures are data (``Architecture``,
``PRESETS``), method configs are read by attribute, and every answer is a few hundred
multiplications, so notebooks and widgets can call it on every slider move.
"""
from .arch import Architecture, Extra, Linear, Match, Stack, select
from .flops import FlopsReport, linear_flops, model_flops
from .params import ParamReport, count, parameters
from .presets import PRESETS, bert, bloom, get, gpt2, llama, opt, t5, tiny, tiny_from
from .memory import OPTIMIZERS, PRECISIONS, MemoryReport, Precision, training_memory
from .storage import DTYPES, StorageReport, nf4_bits_per_weight, nf4_bytes, storage
from .units import human_bytes, human_count

__all__ = ["Architecture", "Extra", "Linear", "Match", "Stack", "select", "METHODS", "ParamReport", "count",
           "parameters", "PRESETS", "get", "bert", "bloom", "gpt2", "llama", "opt", "t5", "tiny", "tiny_from",
           "OPTIMIZERS", "PRECISIONS", "MemoryReport", "Precision", "training_memory", "DTYPES",
           "StorageReport", "nf4_bits_per_weight", "nf4_bytes", "storage", "human_bytes", "human_count",
           "FlopsReport", "linear_flops", "model_flops"]


def __getattr__(name: str):
    """``budget.METHODS``: the names of ``pl.REGISTRY``, read from the registry (which needs torch) only
    when asked, so the calculator itself still imports without torch."""
    if name == "METHODS":
        from ..methods import REGISTRY
        return tuple(REGISTRY)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
