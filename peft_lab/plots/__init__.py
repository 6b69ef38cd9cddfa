"""Figures for every chapter. Importing this package registers the CJK font and the style.

Each plotting function takes data (or results) and returns a ``matplotlib.figure.Figure``;
none calls ``show()`` or writes files. Text goes through ``peft_lab.i18n``.
"""
from .style import PALETTE, apply_style, color, register_cjk_font

FONT_FAMILY = register_cjk_font()
apply_style()
