"""results/bench.json says which checkpoint and which commit its timings were measured with."""
import subprocess

from peft_lab import bench
from peft_lab.experiments import api
from peft_lab.experiments.runner import checkpoint_id


def test_the_bench_report_records_checkpoint_and_commit():
    meta = bench.report_meta(bench.QUICK, tokens_per_example=32, model_parameters=1000)
    assert meta["checkpoint"] == checkpoint_id() != "none"
    assert meta["settings"]["tokens_per_example"] == 32 and meta["settings"]["batch"] == bench.QUICK.batch
    try:
        head = subprocess.run(["git", "-C", str(api.REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = "unknown"
    assert meta["git_commit"].removesuffix("+dirty") == head
    assert {"date", "versions", "machine", "model_parameters"} <= set(meta)


def test_without_git_the_commit_is_unknown(monkeypatch):
    monkeypatch.setattr(api, "git_commit", lambda: None)
    assert bench.report_meta(bench.QUICK, 32, 1000)["git_commit"] == "unknown"
