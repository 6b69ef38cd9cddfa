"""`python -m peft_lab`: the check a lecturer runs before class."""
import subprocess
import sys


def test_health_check_passes_here_and_reports_the_essentials():
    done = subprocess.run([sys.executable, "-m", "peft_lab"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    for needle in ("torch", "snownlp", "corpora:", "checkpoint:", "CJK font:", "ms"):
        assert needle in done.stdout, needle
