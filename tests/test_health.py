"""`python -m peft_lab`: the check a lecturer runs before class, fast unless asked to time training."""
import os
import subprocess
import sys
from pathlib import Path

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
