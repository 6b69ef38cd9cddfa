"""The sweeps the notebooks 04-06 draw: which runs each one holds (fields, seeds, counts).

Building a sweep runs nothing; these tests read its specs."""
import pytest

from peft_lab.experiments import api, sweeps
from peft_lab.experiments.runner import pending


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """The full (not quick) context without committed results: every rate is its grid's middle."""
    return sweeps.Context(quick=False, results_dir=tmp_path_factory.mktemp("no_results"))


def recipe_of(s):
    return s.steps, s.batch, s.max_len, s.train_size, s.eval_size


def test_segmentation_runs_every_method_at_every_seed(ctx):
    specs = sweeps.get_sweep("segmentation").build(ctx)
    labels = [m.label for m in sweeps.method_table("segmentation")]
    assert sweeps.TASK2_SEEDS == sweeps.SEEDS and len(sweeps.SEEDS) == 3
    assert sorted((s.label, s.seed) for s in specs) == sorted((label, seed) for label in labels
                                                             for seed in sweeps.SEEDS)
    assert all(s.task == "segmentation" and s.stage == "final" for s in specs)
    assert len(pending(specs, {})) == len(specs)          # every seed is a computation of its own
    quick = sweeps.get_sweep("segmentation").build(sweeps.Context(True, api.results_dir()))
    assert {s.seed for s in quick} == {0}                  # the live version: one seed


def test_loraplus_ratio_varies_only_the_ratio_of_B_to_A(ctx):
    specs = sweeps.get_sweep("loraplus_ratio").build(ctx)
    row = sweeps.method("loraplus")
    assert sorted((s.optimizer["ratio"], s.seed) for s in specs) == sorted(
        (ratio, seed) for ratio in sweeps.LORAPLUS_RATIOS for seed in sweeps.FEW_SEEDS)
    assert 1 in sweeps.LORAPLUS_RATIOS and row.optimizer["ratio"] in sweeps.LORAPLUS_RATIOS
    assert {s.optimizer["name"] for s in specs} == {"loraplus"}
    assert all(s.config == row.config.to_dict() and s.lr == ctx.lr(row) and s.label == "loraplus" for s in specs)
    assert {recipe_of(s) for s in specs} == {(sweeps.STEPS, sweeps.BATCH, sweeps.MAX_LEN, None, None)}
    assert len({s.variant for s in specs}) == len(sweeps.LORAPLUS_RATIOS)
    assert len(pending(specs, {})) == len(specs)
    # at the paper's ratio, seed 0 is the methods sweep's LoRA+ run at that rate (same key)
    methods_keys = {s.key() for s in sweeps.get_sweep("methods").build(ctx)}
    assert [s.key() in methods_keys for s in specs if s.optimizer == row.optimizer] == [True, False]


def test_the_lr_comes_from_the_methods_sweep_when_it_exists(tmp_path):
    import json
    from peft_lab.experiments.runner import checkpoint_id
    runs = [{"label": "loraplus", "lr": 3e-4, "stage": "final"}, {"label": "lora", "lr": 1e-2, "stage": "final"}]
    (tmp_path / "methods.json").write_text(json.dumps({"meta": {"checkpoint": checkpoint_id()}, "runs": runs}))
    specs = sweeps.get_sweep("loraplus_ratio").build(sweeps.Context(False, tmp_path))
    assert {s.lr for s in specs} == {3e-4}
