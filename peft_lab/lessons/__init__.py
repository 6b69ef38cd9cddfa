"""Cell logic of the notebooks that grew past a few lines: one module per notebook, each tested.

    from peft_lab.lessons import motivation     # 01_motivation: costs against GPU cards, measured parts
"""
