"""The experiment runner: resumable, choose on validation only, never overwrite silently, a
stable results schema, honest summaries -- and the committed numbers reproduce."""
import dataclasses
import json
import math

import pytest
import torch

from peft_lab.experiments import __main__ as cli
from peft_lab.experiments import analysis, api, lr_search, runner, spectra, sweeps
from peft_lab.experiments import spec as spec_module
from peft_lab.experiments.runner import SEARCH, Journal, Spec, best_on_validation, pending, run_specs

METRICS = dict.fromkeys(api.METRIC_FIELDS, 0.5) | {
    "memory": dict.fromkeys(api.MEMORY_FIELDS, 1), "trainable_params": 10, "total_params": 100}


def fake_execute(spec):
    """A run in microseconds: validation accuracy peaks at lr 1e-3, test accuracy at lr 1e-2."""
    val = 0.9 - abs(math.log10(spec.lr) + 3) / 10
    test = 0.9 - abs(math.log10(spec.lr) + 2) / 10
    return {"status": "ok", "metrics": METRICS | {"val_accuracy": val, "test_accuracy": test + spec.seed / 100},
            "details": {}}


def specs_with_search(grid=(1e-4, 1e-3, 1e-2), seeds=(0, 1, 2)):
    search = [Spec(label="lora", method="lora", lr=lr, seed=0, steps=5, stage="lr_search") for lr in grid]
    return search + [Spec(label="lora", method="lora", lr=SEARCH, seed=s, steps=5) for s in seeds]


class Counting:
    """An execute that counts its calls and can simulate Ctrl-C on a given call."""

    def __init__(self, interrupt_at=None):
        self.calls, self.interrupt_at = [], interrupt_at

    def __call__(self, spec):
        if len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        self.calls.append((spec.lr, spec.seed))
        return fake_execute(spec)


@pytest.fixture
def fake_sweep(monkeypatch):
    """A sweep named "fake" whose runs cost nothing (its specs still go through the real runner)."""
    sweep = sweeps.Sweep("fake", lambda ctx: specs_with_search(), ("label",))
    monkeypatch.setitem(sweeps.SWEEPS, "fake", sweep)
    return sweep


# ----------------------------------------------------------------------------- resumability

def test_an_interrupted_sweep_resumes_without_recomputing_finished_runs(fake_sweep, tmp_path):
    out = tmp_path / "fake.json"
    first = Counting(interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        api.run_sweep("fake", quick=False, progress=False, out=out, execute=first, directory=tmp_path)
    assert not out.exists() and api.journal_path(out).exists()
    assert len(api.journal_path(out).read_text().splitlines()) == 2   # both finished runs were kept

    second = Counting()
    results = api.run_sweep("fake", quick=False, progress=False, out=out, execute=second, directory=tmp_path)
    assert not set(first.calls) & set(second.calls)                    # nothing computed twice
    assert len(first.calls) + len(second.calls) == 5                   # 3 rates + 2 new seeds
    assert out.exists() and not api.journal_path(out).exists()          # journal gone once complete
    assert json.loads(out.read_text()) == results and len(results["runs"]) == 6


def test_extend_keeps_the_committed_runs_and_computes_only_the_new_grid_point(fake_sweep, tmp_path, monkeypatch):
    out = tmp_path / "fake.json"
    before = api.run_sweep("fake", quick=False, progress=False, out=out, execute=fake_execute, directory=tmp_path)
    with pytest.raises(FileExistsError, match="--extend"):
        api.run_sweep("fake", quick=False, progress=False, out=out, execute=fake_execute, directory=tmp_path)
    wider = sweeps.Sweep("fake", lambda ctx: specs_with_search(grid=(1e-5, 1e-4, 1e-3, 1e-2)), ("label",))
    monkeypatch.setitem(sweeps.SWEEPS, "fake", wider)
    # the plan cannot know the winner yet: the new point, and two new seeds in case it wins
    assert api.plan("fake", out=out, directory=tmp_path, extend=True)["to_compute"] == 3
    calls = Counting()
    after = api.run_sweep("fake", quick=False, progress=False, out=out, execute=calls, directory=tmp_path,
                          extend=True)
    assert calls.calls == [(1e-5, 0)]                                  # only the new point ran
    assert after["meta"]["carried_over"] == 5 and len(after["runs"]) == 7
    kept = {(r["lr"], r["seed"], r["stage"]): r["metrics"] for r in before["runs"]}
    for r in after["runs"]:
        if r.get("carried"):
            assert r["metrics"] == kept[(r["lr"], r["seed"], r["stage"])]
    assert sum(bool(r.get("carried")) and not r.get("reused") for r in after["runs"]) == 5  # 3 rates + 2 seeds


def test_extend_refuses_runs_of_another_checkpoint(fake_sweep, tmp_path, monkeypatch):
    out = tmp_path / "fake.json"
    api.run_sweep("fake", quick=False, progress=False, out=out, execute=fake_execute, directory=tmp_path)
    results = json.loads(out.read_text())
    results["meta"]["checkpoint"] = "0123456789ab"
    out.write_text(json.dumps(results))
    with pytest.raises(ValueError, match="another checkpoint|use --overwrite"):
        api.run_sweep("fake", quick=False, progress=False, out=out, execute=fake_execute, directory=tmp_path,
                      extend=True)


def test_runs_on_other_splits_are_never_kept_or_reused(fake_sweep, tmp_path, monkeypatch):
    out = tmp_path / "fake.json"
    api.run_sweep("fake", quick=False, progress=False, out=out, execute=fake_execute, directory=tmp_path)
    results = json.loads(out.read_text())
    assert results["meta"]["data"] == {"sentiment": runner.data_id("sentiment")}
    spec = Spec.from_record(results["runs"][0])
    key = spec.key()
    for module in (spec_module, api):                                     # e.g. a leak removed from test
        monkeypatch.setattr(module, "data_id", lambda task: "0123456789ab")
    assert spec.key() != key                                              # another computation
    with pytest.raises(ValueError, match="use --overwrite"):              # and nothing carried over
        api.run_sweep("fake", quick=False, progress=False, out=out, execute=fake_execute, directory=tmp_path,
                      extend=True)


def test_new_weights_keep_only_the_runs_from_random_init(tmp_path, monkeypatch):
    def both_inits(ctx):
        search = specs_with_search(seeds=(0,))
        return search + [dataclasses.replace(s, init="scratch") for s in search]
    monkeypatch.setitem(sweeps.SWEEPS, "fake", sweeps.Sweep("fake", both_inits, ("label",)))
    out = tmp_path / "fake.json"
    api.run_sweep("fake", quick=False, progress=False, out=out, execute=fake_execute, directory=tmp_path)
    results = json.loads(out.read_text())
    results["meta"]["checkpoint"] = "0123456789ab"                     # other weights, same shape
    out.write_text(json.dumps(results))
    calls = []

    def record(spec):
        calls.append(spec.init)
        return fake_execute(spec)
    after = api.run_sweep("fake", quick=False, progress=False, out=out, execute=record, directory=tmp_path,
                          extend=True)
    assert calls == ["pretrained"] * 3                                 # the three rates again, seed 0 reused
    assert {r["init"] for r in after["runs"] if r.get("carried")} == {"scratch"}
    results["meta"]["architecture"] = "0123456789ab"                   # another vocabulary or shape
    out.write_text(json.dumps(results))
    with pytest.raises(ValueError, match="cannot be kept"):
        api.run_sweep("fake", quick=False, progress=False, out=out, execute=fake_execute, directory=tmp_path,
                      extend=True)


def test_a_line_cut_short_by_the_interruption_is_redone_not_fatal(tmp_path):
    journal = Journal(tmp_path / "x.partial.jsonl")
    specs = specs_with_search()[:3]   # the three rates of the grid
    run_specs(specs[:1], fake_execute, journal, progress=False)
    with journal.path.open("a") as f:
        f.write('{"key": "half a line')
    calls = Counting()
    run_specs(specs, calls, journal, progress=False)
    assert calls.calls == [(specs[1].lr, 0), (specs[2].lr, 0)]


def test_worker_processes_give_the_same_records_as_one_process(tmp_path):
    specs = specs_with_search(grid=(1e-4, 1e-3), seeds=(0, 1))
    one = run_specs(specs, fake_execute, progress=False)
    two = run_specs(specs, fake_execute, Journal(tmp_path / "j.jsonl"), progress=False, jobs=2)
    strip = lambda runs: [{k: v for k, v in r.items() if k != "wall_seconds"} for r in runs]
    assert strip(one) == strip(two)


# ----------------------------------------------------------------------------- learning-rate choice

def test_the_learning_rate_is_chosen_on_validation_and_seed_0_is_reused():
    calls = Counting()
    runs = run_specs(specs_with_search(), calls, progress=False)
    final = [r for r in runs if r["stage"] == "final"]
    assert {r["lr"] for r in final} == {1e-3}              # best validation, although test prefers 1e-2
    assert len(calls.calls) == 5                            # seed 0 at the chosen rate is not retrained
    assert [r.get("reused", False) for r in final] == [True, False, False]
    assert final[0]["metrics"] == next(r for r in runs if r["stage"] == "lr_search" and r["lr"] == 1e-3)["metrics"]


def test_the_lr_search_table_flags_a_choice_at_the_edge_of_the_grid(monkeypatch):
    monkeypatch.setattr(lr_search, "MAX_EXTENSIONS", 0)   # a grid that may not grow
    runs = run_specs(specs_with_search(grid=(1e-3, 1e-2)), fake_execute, progress=False)
    (row,) = analysis.lr_search_table({"runs": runs})
    assert row["chosen"] == 1e-3 and row["at_edge"] and set(row["scores"]) == {1e-3, 1e-2}
    runs = run_specs(specs_with_search(), fake_execute, progress=False)
    assert not analysis.lr_search_table({"runs": runs})[0]["at_edge"]


def test_a_grid_whose_best_rate_is_on_its_edge_grows_until_the_best_is_inside(tmp_path):
    """Validation peaks at 1e-3 (fake_execute); a grid 1e-2 ... 1e-1 gains 3e-3, then 1e-3."""
    calls = Counting()
    runs = run_specs(specs_with_search(grid=(1e-2, 3e-2, 1e-1)), calls, progress=False)
    searched = sorted(r["lr"] for r in runs if r["stage"] == "lr_search")
    assert searched == [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
    assert {r["lr"] for r in runs if r["stage"] == "final"} == {1e-3}
    assert len(calls.calls) == 5 + 2                       # 5 rates, then seeds 1 and 2 at the best
    # at most MAX_EXTENSIONS points: a far-off grid stops growing and stays flagged as on its edge
    runs = run_specs(specs_with_search(grid=(1e-1, 3e-1, 1.0)), fake_execute, progress=False)
    assert sorted(r["lr"] for r in runs if r["stage"] == "lr_search") == [1e-2, 3e-2, 1e-1, 3e-1, 1.0]
    assert analysis.lr_search_table({"runs": runs})[0]["at_edge"]


def test_a_grid_whose_best_rate_is_inside_does_not_grow():
    calls = Counting()
    run_specs(specs_with_search(grid=(1e-4, 1e-3, 1e-2)), calls, progress=False)
    assert sorted({lr for lr, _ in calls.calls}) == [1e-4, 1e-3, 1e-2]


def test_choosing_on_a_test_metric_is_refused():
    with pytest.raises(ValueError, match="validation only"):
        best_on_validation([(1e-3, {"metrics": {"test_accuracy": 0.9}})], "test_accuracy")


def test_a_diverged_rate_is_never_chosen_and_all_diverged_is_an_error():
    diverged = {"status": "diverged", "metrics": {}}
    assert best_on_validation([(1.0, diverged), (1e-3, {"metrics": {"val_accuracy": 0.6}})], "val_accuracy") == 1e-3
    with pytest.raises(RuntimeError, match="diverged"):
        best_on_validation([(1.0, diverged)], "val_accuracy")


def test_identical_specs_of_a_real_sweep_are_computed_once():
    """In the rank sweep, r = 8 with alpha = 16 *is* r = 8 with alpha = 2r: one run per seed."""
    specs = sweeps.lora_rank_sweep(sweeps.Context(quick=False, results_dir=api.results_dir()))
    assert len(pending(specs, {})) == len(specs) - len(sweeps.FEW_SEEDS)


def test_the_plan_counts_what_will_run(fake_sweep, tmp_path):
    p = api.plan("fake", quick=False, directory=tmp_path)
    assert (p["runs"], p["to_compute"], p["stages"]) == (6, 5, {"lr_search": 3, "final": 3})


# ----------------------------------------------------------------------------- files, names, schema

def test_an_existing_result_is_not_overwritten_without_asking(fake_sweep, tmp_path, capsys):
    out = tmp_path / "fake.json"
    out.write_text("{}")
    with pytest.raises(FileExistsError, match="overwrite"):
        api.run_sweep("fake", quick=False, progress=False, out=out, execute=fake_execute, directory=tmp_path)
    assert cli.main(["fake", "--results", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_text() == "{}"
    api.run_sweep("fake", quick=False, progress=False, out=out, execute=fake_execute, overwrite=True,
                  directory=tmp_path)
    assert len(json.loads(out.read_text())["runs"]) == 6


def test_unknown_names_list_the_known_sweeps(tmp_path):
    with pytest.raises(ValueError, match="known sweeps: attention_dropout, repro, methods"):
        api.load_results("method")
    with pytest.raises(SystemExit):
        cli.parse_args(["method"])


def test_missing_results_say_how_to_make_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m peft_lab.experiments methods"):
        api.load_results("methods", directory=tmp_path)


def test_results_follow_the_schema_and_broken_ones_are_named(fake_sweep, tmp_path):
    results = api.run_sweep("fake", quick=False, progress=False, execute=fake_execute, directory=tmp_path)
    api.validate(results)
    meta = results["meta"]
    assert {"platform", "processor", "cores", "torch_threads"} <= set(meta["machine"])
    assert {"torch", "peft-lab", "python"} <= set(meta["versions"]) and meta["date"]
    del results["runs"][4]["metrics"]["latency_ms"]
    with pytest.raises(ValueError, match=r"run 4 \(lora, seed 1\): metrics lack \['latency_ms'\]"):
        api.validate(results)


def test_a_run_record_turns_back_into_its_spec():
    spec = sweeps.repro_sweep(None)[0]
    record = json.loads(json.dumps(run_specs([spec], fake_execute, progress=False)[0]))
    assert Spec.from_record(record) == spec and Spec.from_record(record).key() == spec.key()


@pytest.mark.parametrize("path", sorted(p for p in api.results_dir().glob("*.json") if p.stem in sweeps.SWEEPS),
                         ids=lambda p: p.name)
def test_committed_sweep_results_follow_the_schema(path):
    api.validate(json.loads(path.read_text(encoding="utf-8")))


# ----------------------------------------------------------------------------- summaries

def test_summarize_gives_mean_std_n_per_group_in_first_seen_order():
    runs = [{"label": "b", "stage": "final", "metrics": {"test_accuracy": a, "memory": {"total": 8}}}
            for a in (0.8, 0.9)]
    runs += [{"label": "a", "stage": "final", "metrics": {"test_accuracy": 0.7}},
             {"label": "a", "stage": "lr_search", "metrics": {"test_accuracy": 0.1}},
             {"label": "a", "stage": "final", "status": "diverged", "metrics": {}}]
    rows = analysis.summarize({"runs": runs})
    assert [r["label"] for r in rows] == ["b", "a"] and [r["runs"] for r in rows] == [2, 1]
    assert rows[0]["test_accuracy"] == pytest.approx({"mean": 0.85, "std": 0.0707107, "n": 2}, rel=1e-5)
    assert rows[0]["memory.total"]["mean"] == 8
    assert rows[1]["test_accuracy"] == {"mean": 0.7, "std": 0.0, "n": 1}


def test_series_are_sorted_by_x_with_the_whole_split_last():
    runs = [{"label": "lora", "train_size": n, "metrics": {"test_accuracy": a}}
            for n, a in ((1000, 0.8), (None, 0.9), (100, 0.6))]
    points = analysis.series({"runs": runs}, x="train_size")["lora"]
    assert [p[0] for p in points] == [100, 1000, None]


# ----------------------------------------------------------------------------- ΔW and subspace math

def test_a_low_rank_update_holds_all_its_energy_in_its_rank_and_random_does_not():
    g = torch.Generator().manual_seed(0)
    W0 = torch.randn(64, 32, generator=g)
    W = W0 + torch.randn(64, 2, generator=g) @ torch.randn(2, 32, generator=g)   # rank-2 update
    report = spectra.delta_w_report(W0, W)
    assert report["energy"]["2"] == pytest.approx(1.0, abs=1e-6)
    assert report["random_energy"]["2"] < 0.3 and report["random_energy"]["32"] == pytest.approx(1.0)
    R = spectra.random_like(W - W0, seed=1)
    assert R.shape == W.shape and R.norm() == pytest.approx(float((W - W0).norm()), rel=1e-5)


def test_subspace_similarity_follows_the_lora_papers_definition():
    Q, _ = torch.linalg.qr(torch.randn(16, 16, dtype=torch.float64))
    ordered = lambda rows: Q[rows] * torch.arange(len(rows), 0, -1.0)[:, None]
    nested = torch.tensor(spectra.subspace_similarity(ordered([0, 1, 2, 3]), ordered(list(range(8))), 4, 8))
    assert nested.shape == (4, 8) and torch.allclose(nested, torch.ones(4, 8), atol=1e-4)
    assert torch.tensor(spectra.subspace_similarity(Q[:4], Q[8:12], 4, 4)).abs().max() < 1e-4  # orthogonal
    # V1 = (q0, q1), V2 = (q1, q2): φ(1,1) = 0, φ(2,1) = 1, φ(1,2) = 0, φ(2,2) = 1/2
    shifted = spectra.subspace_similarity(ordered([0, 1]), ordered([1, 2]), 2, 2)
    assert torch.allclose(torch.tensor(shifted), torch.tensor([[0.0, 0.0], [1.0, 0.5]]), atol=1e-4)


# ----------------------------------------------------------------------------- reproducibility

def test_the_committed_repro_run_reproduces():
    """Re-run the designated cheap run of results/repro.json and compare with the committed value.

    Tolerances: the initial loss depends only on the seeded init and one forward pass, so
    machines differ only by float32 summation order (BLAS kernels, thread counts): ~1e-6
    relative, checked at 1e-4. Thirty AdamW steps amplify such differences a little, and an
    example near the decision boundary may flip: accuracies may differ by up to 2 points
    (10 of the 500 test reviews). Parameter counts are exact.
    """
    path = api.results_path("repro")
    if not path.exists():
        pytest.skip(f"{path} is not committed yet: python -m peft_lab.experiments repro")
    committed = json.loads(path.read_text(encoding="utf-8"))
    from peft_lab.experiments.execute import execute
    from peft_lab.experiments.runner import checkpoint_id
    assert committed["meta"]["checkpoint"] == checkpoint_id(), (
        f"{path} was measured with another checkpoint: python -m peft_lab.experiments repro --overwrite")
    record = committed["runs"][0]
    again = execute(Spec.from_record(record))
    c, a = record["metrics"], again["metrics"]
    assert (a["trainable_params"], a["total_params"]) == (c["trainable_params"], c["total_params"])
    assert again["details"]["initial_loss"] == pytest.approx(record["details"]["initial_loss"], rel=1e-4)
    for metric in ("val_accuracy", "test_accuracy"):
        assert a[metric] == pytest.approx(c[metric], abs=0.02), metric


def test_all_runs_every_sweep_but_the_baselines_methods_first():
    from peft_lab.experiments.__main__ import parse_args
    names = parse_args(["all"]).names
    assert "baselines" not in names and set(names) == set(sweeps.SWEEPS) - {"baselines"}
    assert names[0] == "attention_dropout"   # chooses the attention dropout every later sweep uses
    assert names.index("methods") < min(names.index(n) for n in names if n not in ("attention_dropout", "repro",
                                                                                   "methods"))
    assert parse_args(["all", "baselines"]).names == [*names, "baselines"]


def finished_grid(scores: dict[float, float | None]):
    """lr_search specs of one grid and a done-dict giving each rate its validation accuracy
    (None: diverged)."""
    specs = [Spec(label="prefix_tuning", method="prefix_tuning", lr=lr, seed=0, steps=5, stage="lr_search")
             for lr in scores]
    done = {s.key(): {"status": "ok" if scores[s.lr] is not None else "diverged",
                      "metrics": {} if scores[s.lr] is None else {"val_accuracy": scores[s.lr]}} for s in specs}
    return specs, done


def test_a_rate_tied_with_the_best_on_the_edge_grows_the_grid_too():
    """Prefix tuning's case: 3e-3 is chosen (first of equals) but 1e-2, on the edge, scores the same."""
    from peft_lab.experiments.runner import edge_extensions
    specs, done = finished_grid({1e-3: 0.70, 3e-3: 0.80, 1e-2: 0.80})
    assert best_on_validation([(s.lr, done[s.key()]) for s in specs], "val_accuracy") == 3e-3
    grown = {}
    (more,) = edge_extensions(specs, done, grown)
    assert more.lr == pytest.approx(3e-2) and more.stage == "lr_search" and grown == {specs[0].search_group: 1}
    specs, done = finished_grid({1e-3: 0.80, 3e-3: 0.80, 1e-2: 0.70})        # tied on the low edge
    assert [s.lr for s in edge_extensions(specs, done, {})] == [pytest.approx(3e-4)]
    specs, done = finished_grid({1e-3: 0.80, 3e-3: 0.70, 1e-2: 0.80})        # a tie on both edges: both grow
    assert sorted(s.lr for s in edge_extensions(specs, done, {})) == [pytest.approx(3e-4), pytest.approx(3e-2)]
    specs, done = finished_grid({1e-3: 0.70, 3e-3: 0.80, 1e-2: 0.80, 3e-2: 0.70})  # tied inside: no growth
    assert edge_extensions(specs, done, {}) == []
    specs, done = finished_grid({1e-3: None, 3e-3: None})                     # all diverged: look lower
    assert [s.lr for s in edge_extensions(specs, done, {})] == [pytest.approx(3e-4)]
    specs, done = finished_grid({1e-3: 0.80, 3e-3: 0.70, 1e-2: 0.80})
    assert len(edge_extensions(specs, done, {specs[0].search_group: lr_search.MAX_EXTENSIONS - 1})) == 1  # capped
