"""`python -m peft_lab`: the check a lecturer runs before class, fast unless asked to time training."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _health(*args, python_flags=()):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *python_flags, "-m", "peft_lab", *args], capture_output=True,
                          text=True, timeout=600, cwd=ROOT, env=env)


def test_health_check_passes_here_and_reports_the_essentials_without_training():
    done = _health()
    assert done.returncode == 0, done.stdout + done.stderr
    for needle in ("torch", "snownlp", "corpora:", "checkpoint:", "CJK font:"):
        assert needle in done.stdout, needle
    assert "not measured" in done.stdout and "-m peft_lab --speed" in done.stdout, "it says how to time training"
    assert " ms " not in done.stdout


def test_health_check_with_speed_times_a_training_step():
    done = _health("--speed")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not measured" not in done.stdout
    assert " ms here" in done.stdout


def test_a_python_without_torch_gets_a_plain_message_with_the_fix():
    done = _health(python_flags=["-S"])  # -S: no site-packages, so no torch, as in a bare system Python
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "ModuleNotFoundError" not in done.stderr, done.stderr
    assert "torch" in done.stderr and "python3 dev.py lab" in done.stderr and ".venv/bin/python" in done.stderr


def _fake_fc_list(tmp_path, families: str) -> dict:
    """An environment whose only fc-list prints ``families`` (so the result does not depend on this machine)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "fc-list"
    script.write_text(f"#!/bin/sh\nprintf '{families}'\n")
    script.chmod(0o755)
    return {"PATH": str(bin_dir)}


@pytest.mark.skipif(sys.platform != "linux", reason="the browser's CJK font is checked with fontconfig on Linux")
@pytest.mark.parametrize("families, found", [("", False), ("Noto Sans CJK SC\\nNoto Sans CJK SC\\nWenQuanYi\\n", True)])
def test_the_browser_font_line_warns_with_the_fix_only_when_no_cjk_font_exists(tmp_path, monkeypatch, families, found):
    from peft_lab.__main__ import BROWSER_FONT_INSTALL, browser_font_line
    monkeypatch.setenv("PATH", _fake_fc_list(tmp_path, families)["PATH"])
    line = browser_font_line("Linux")
    assert ("WARNING" in line and BROWSER_FONT_INSTALL in line) != found
    if found:
        assert "Noto Sans CJK SC" in line and "1 more" in line


def test_the_browser_font_line_says_so_when_fontconfig_is_missing_and_is_silent_off_linux(tmp_path, monkeypatch):
    from peft_lab.__main__ import BROWSER_FONT_INSTALL, browser_font_line
    monkeypatch.setenv("PATH", str(tmp_path))   # no fc-list at all
    line = browser_font_line("Linux")
    assert "fc-list is not installed" in line and BROWSER_FONT_INSTALL in line
    assert browser_font_line("Darwin") is None and browser_font_line("Windows") is None


@pytest.mark.skipif(sys.platform != "linux", reason="the browser's CJK font is checked with fontconfig on Linux")
def test_no_cjk_font_for_the_browser_is_a_warning_not_a_failure(tmp_path):
    done = subprocess.run([sys.executable, "-m", "peft_lab"], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **_fake_fc_list(tmp_path, "")})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING: no CJK font for the browser" in done.stdout and "fonts-noto-cjk" in done.stdout
