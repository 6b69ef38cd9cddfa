"""Experiments behind every measured number in the notebooks: one command per sweep.

    python -m peft_lab.experiments methods          # -> results/methods.json (resumable)
    python -m peft_lab.experiments all --plan       # how many runs, and roughly how long
    python -m peft_lab.experiments lora_rank --quick

Sweeps (``SWEEPS``): ``attention_dropout``, ``repro``, ``methods``, ``baselines``, ``lora_rank``,
``adapter_bottleneck``, ``prefix_length``, ``train_size``, ``delta_w``, ``segmentation``, ``dylora_ranks``,
``loraplus_ratio``, ``failures``. The recipe (STEPS, BATCH, MAX_LEN, seeds) is at the top of
``sweeps.py``. Modules: ``spec`` (a run and its key), ``identity`` (checkpoint, architecture and
data hashes), ``journal`` (the resumable journal, JSON files), ``lr_search`` (rates chosen on
validation, grids grown past an edge), ``runner`` (the resumable loop), ``execute`` (what one run
computes), ``sweeps`` (the grids), ``analysis`` (summaries), ``spectra`` (ΔW and subspace math),
``tfidf`` (classical baseline), ``api`` (this API).
"""
from .analysis import (chosen_lrs, dylora_by_rank, energy_table, format_table, lr_search_table, select, series,
                       summarize, value)
from .api import load_results, plan, results_dir, results_path, run_sweep, validate
from .spec import SEARCH, Spec
from .sweeps import BATCH, MAX_LEN, QUICK, SEEDS, STEPS, SWEEPS, method_table

__all__ = ["BATCH", "MAX_LEN", "QUICK", "SEARCH", "SEEDS", "STEPS", "SWEEPS", "Spec", "chosen_lrs", "dylora_by_rank",
           "energy_table", "format_table", "load_results", "lr_search_table", "method_table", "plan", "results_dir",
           "results_path", "run_sweep", "select", "series", "summarize", "validate", "value"]
