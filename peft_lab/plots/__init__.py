"""Figures for every chapter. Importing this package registers the CJK font and the style.

Each plotting function takes data (results dicts, ``RunResult``s, budget reports, tensors) and
returns a ``matplotlib.figure.Figure``; none calls ``show()`` or writes files. Text goes through
``peft_lab.i18n`` (Chinese by default, ``pl.set_language("en")``), colours through ``style``.

    ch1_motivation   model_growth, memory_breakdown, measured_memory, storage_vs_tasks
    ch2_lora         lora_diagram, rank_params, spectrum, energy_top_k, subspace_similarity, rank_sweep
    ch2_costs        flops_bars, latency_bars
    ch2_width        width_ratio (LoRA's step time against full fine-tuning as the model widens)
    ch2_variants     adalora_ranks, dylora_curve, nf4_levels_plot
    ch3_adapter      adapter_diagram, bottleneck_sweep, placement_comparison
    ch4_prompts      where_vectors_go, prefix_length_sweep, param_counts
    ch5_comparison   heatmap, radar, accuracy_vs_params   (ranking: peft_lab.recommend)
    ch5_more         accuracy_vs_cost (accuracy against memory, trainable parameters, file size, step time)
    ch6_practice     training_curves, train_size_sweep, lr_search

Shared helpers: common (layout, provenance and recipe notes, units), sweeps (measured sweeps,
the reader's setting marked on them), labels (names written beside points), style (palette, font).
"""
from .style import PALETTE, apply_style, color, register_cjk_font

FONT_FAMILY = register_cjk_font()
apply_style()

from . import (ch1_motivation, ch2_costs, ch2_lora, ch2_variants, ch2_width, ch3_adapter,  # noqa: E402
               ch4_prompts, ch5_comparison, ch6_practice)
from . import ch5_more  # noqa: E402  (accuracy_vs_cost: accuracy against memory, step time, file size)

__all__ = ["PALETTE", "FONT_FAMILY", "apply_style", "color", "register_cjk_font", "ch1_motivation", "ch2_costs",
           "ch2_lora", "ch2_variants", "ch2_width", "ch3_adapter", "ch4_prompts", "ch5_comparison", "ch5_more", "ch6_practice"]
