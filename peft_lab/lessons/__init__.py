"""Cell logic of the notebooks that grew past a few lines: one module per notebook, each tested.

    from peft_lab.lessons import motivation     # 01_motivation: costs against GPU cards, measured parts
    from peft_lab.lessons import lora           # 02_lora: rank sweep, merged latency, AdaLoRA/QLoRA/LoRA+/DoRA checks
    from peft_lab.lessons import adapter        # 03_adapter: the forward FLOPs an adapter adds
    from peft_lab.lessons import prompts        # 04_prefix_tuning: length, steering and design verdicts
    from peft_lab.lessons import comparison     # 05_comparison: table, noise, cross-task, weighted ranking, guide
    from peft_lab.lessons import practice       # 06_practice_guide: verdicts, counts, HF PEFT agreement
"""
