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
