"""The README tells the truth: its quick start runs (twice), its commands exist, its counts are computed."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import peft_lab as pl
from peft_lab.__main__ import QUICK_START_STEPS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CHINESE, ENGLISH = README.split("## English summary")


def _quick_start() -> str:
    section = README.split("## 快速上手", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_quick_start_trains_for_the_steps_the_health_check_times():
    assert f"steps={QUICK_START_STEPS}" in _quick_start()


def test_the_quick_start_runs_twice_and_saves_an_adapter_that_loads(tmp_path):
    code = _quick_start().replace(f"steps={QUICK_START_STEPS}", "steps=2")  # only the budget is shrunk
    check = """
import torch
restored = pl.load_adapter(pl.load_pretrained(head="cls", num_labels=2), "out/lora-sentiment")
ids = torch.randint(4, model.config.vocab_size, (3, 20), generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    gap = (model.eval()(ids) - restored.eval()(ids)).abs().max().item()
assert gap < 1e-4, f"the saved adapter does not reproduce the trained model: {gap}"
print("RUNS:", runs)
"""
    script = f"runs = 0\nfor _ in range(2):\n    exec({code!r})\n    runs += 1\n{check}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=1200, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "RUNS: 2" in done.stdout


def _module_commands():
    """(module, flags) of every ``python -m peft_lab...`` command line in the README."""
    found = set()
    for line in README.splitlines():
        for m in re.finditer(r"python -m (peft_lab[\w.]*)([^#`;，（\n]*)", line):  # up to a comment or the code's end
            found.add((m.group(1), tuple(re.findall(r"--[\w-]+", m.group(2)))))
    return sorted(found)


def test_the_readme_names_its_commands():
    modules = {module for module, _ in _module_commands()}
    assert {"peft_lab", "peft_lab.pretrain", "peft_lab.experiments", "peft_lab.bench"} <= modules


@pytest.mark.parametrize("module", sorted({module for module, _ in _module_commands()}))
def test_every_readme_command_exists_with_the_options_it_shows(module):
    flags = {flag for m, fs in _module_commands() if m == module for flag in fs}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    missing = [flag for flag in flags if flag not in done.stdout]
    assert not missing, f"the README uses {missing} with python -m {module}, which has no such option"


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f} M"


def test_every_parameter_count_in_the_readme_and_docstrings_is_the_models_and_says_which():
    classifier = _millions(pl.count_parameters(pl.load_pretrained(head="cls", num_labels=2))[1])
    with_lm_head = _millions(pl.count_parameters(pl.load_pretrained(head="lm"))[1])
    texts = {"README (Chinese)": CHINESE, "README (English)": ENGLISH,
             "peft_lab/__init__.py": pl.__doc__, "peft_lab/__main__.py": sys.modules["peft_lab.__main__"].__doc__}
    for where, text in texts.items():
        counts = {f"{x} M" for x in re.findall(r"(\d+(?:\.\d+)?) ?M\b", text)}
        assert counts == {classifier, with_lm_head}, f"{where} shows {counts}"
        assert re.search("分类|classifier", text) and re.search("语言模型头|language-model head", text), where


def test_the_readme_cites_nothing_the_reader_cannot_open():
    for word in ("讲义", "勘误", "书中", "原书", "handout", "errata", "the book"):
        assert word not in README, word
