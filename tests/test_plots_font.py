"""Figures speak Chinese on any machine: the install brings its own CJK font."""
import subprocess
import sys
import textwrap

import pytest

import peft_lab as pl

SCRIPT = textwrap.dedent("""
    import warnings, matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager
    import peft_lab.plots as plots
    from peft_lab.plots.style import font_path
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, ax = plt.subplots()
        ax.set_title("参数高效微调：低秩适配 −0.5")
        ax.set_xlabel("秩 r"); ax.legend(["全参数微调"])
        fig.canvas.draw()
    glyph = [str(w.message) for w in caught if "Glyph" in str(w.message)]
    used = font_manager.findfont(font_manager.FontProperties(family=["sans-serif"]))
    print(len(glyph), used == str(font_path()), plots.FONT_FAMILY)
""")


def test_chinese_text_draws_with_the_bundled_font_and_no_missing_glyphs(tmp_path):
    # a fresh process with an empty matplotlib cache: nothing registered by earlier tests helps
    env = {"MPLCONFIGDIR": str(tmp_path), "PATH": "", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True)
    n_missing, bundled, family = out.stdout.split(maxsplit=2)
    assert n_missing == "0", out.stderr
    assert bundled == "True", "Chinese text must resolve to the font the install ships"
    assert family.strip() == "Noto Sans CJK SC"


def test_the_source_chapters_font_setting_would_fail_here(tmp_path):
    """The chapter's ``['SimHei', 'Arial Unicode MS']`` has no CJK glyphs on a stock machine."""
    script = textwrap.dedent("""
        import warnings, matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.rcParams["font.sans-serif"] = ["SimHei", "Arial Unicode MS"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig, ax = plt.subplots(); ax.set_title("参数高效微调"); fig.canvas.draw()
        print(sum("Glyph" in str(w.message) for w in caught))
    """)
    env = {"MPLCONFIGDIR": str(tmp_path), "PATH": "", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    if out.stdout.strip() == "0":
        pytest.skip("this machine has a system font named SimHei/Arial Unicode MS")
    assert int(out.stdout) > 0


def test_set_language_switches_the_table_and_rejects_unknown_languages():
    pl.set_language("en")
    try:
        assert pl.i18n.t("full") == "Full fine-tuning"
    finally:
        pl.set_language("zh")
    assert pl.i18n.t("full") == "全参数微调"
    with pytest.raises(ValueError, match="language='fr' is not one of"):
        pl.set_language("fr")


def test_every_text_entry_has_both_languages():
    for key, entry in pl.i18n.TEXT.items():
        assert set(entry) == set(pl.i18n.LANGUAGES), key
