"""Cell logic of the notebooks that grew past a few lines: one module per notebook, each tested.

    from peft_lab.lessons import motivation     # 01_motivation: costs against GPU cards, measured parts
    from peft_lab.lessons import lora           # 02_lora: rank sweep, merged latency, AdaLoRA/QLoRA/LoRA+/DoRA checks
"""
