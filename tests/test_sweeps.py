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


def test_attention_dropout_runs_full_ft_and_lora_at_each_value_and_every_seed(ctx):
    specs = sweeps.get_sweep("attention_dropout").build(ctx)
    assert list(sweeps.SWEEPS)[0] == "attention_dropout" and set(sweeps.ATTENTION_DROPOUTS) == {0.0, 0.1}
    assert sorted((s.label, s.attention_dropout, s.seed) for s in specs) == sorted(
        (label, p, seed) for label in ("full", "lora") for p in sweeps.ATTENTION_DROPOUTS for seed in sweeps.SEEDS)
    for s in specs:
        row = sweeps.method(s.label)
        assert s.config == row.config.to_dict() and s.lr == row.default_lr and s.stage == "final"
    assert len(pending(specs, {})) == len(specs)


def fake_attention_results(directory, val: dict[float, list[float]], checkpoint=None):
    import json
    from peft_lab.experiments.runner import checkpoint_id
    runs = [{"label": label, "stage": "final", "attention_dropout": p, "metrics": {"val_accuracy": a}}
            for p, accs in val.items() for label, a in zip(("full", "lora") * len(accs), accs)]
    runs.append({"label": "lora", "stage": "final", "attention_dropout": 0.0, "metrics": {}})   # diverged
    meta = {"checkpoint": checkpoint or checkpoint_id()}
    (directory / "attention_dropout.json").write_text(json.dumps({"meta": meta, "runs": runs}))


def test_later_sweeps_train_with_the_attention_dropout_chosen_on_validation(tmp_path):
    # full FT, LoRA, full FT, LoRA: with 0.1, full FT is better by 20 points, far beyond noise
    fake_attention_results(tmp_path, {0.0: [0.60, 0.80, 0.61, 0.81], 0.1: [0.80, 0.80, 0.81, 0.81]})
    ctx = sweeps.Context(False, tmp_path)
    assert ctx.attention_dropout == 0.1 and "attention_dropout.json" in ctx.attention_dropout_source
    for name in sweeps.SWEEPS:
        if name in ("attention_dropout", "repro"):
            continue
        trained = [s for s in sweeps.get_sweep(name).build(ctx) if s.kind != "tfidf"]
        assert trained and {s.attention_dropout for s in trained} == {0.1}, name
    # the first sweep and the fixed repro run set their own
    assert {s.attention_dropout for s in sweeps.get_sweep("attention_dropout").build(ctx)} == {0.0, 0.1}


def test_a_difference_within_noise_goes_to_no_attention_dropout_the_faster_step(tmp_path):
    fake_attention_results(tmp_path, {0.1: [0.81, 0.82, 0.81, 0.82], 0.0: [0.80, 0.81, 0.80, 0.81]})
    value, source = sweeps.tuned_attention_dropout(tmp_path)
    assert value == 0.0 and "beyond noise" in source        # 0.1 leads by a point, within noise
    fake_attention_results(tmp_path, {0.1: [0.70, 0.80, 0.71, 0.81], 0.0: [0.80, 0.80, 0.81, 0.81]})
    assert sweeps.tuned_attention_dropout(tmp_path)[0] == 0.0   # 0.0 better: of course
    fake_attention_results(tmp_path, {0.1: [0.80, 0.80, 0.81, 0.81], 0.0: [0.80, 0.70, 0.81, 0.71]})
    assert sweeps.tuned_attention_dropout(tmp_path)[0] == 0.1   # LoRA alone better beyond noise suffices


def test_without_the_attention_dropout_results_the_model_default_is_kept_and_said(tmp_path):
    value, source = sweeps.tuned_attention_dropout(tmp_path)
    assert value is None and "no results/attention_dropout.json" in source
    fake_attention_results(tmp_path, {0.0: [0.9, 0.9]}, checkpoint="0123456789ab")
    value, source = sweeps.tuned_attention_dropout(tmp_path)
    assert value is None and "another checkpoint" in source
    ctx = sweeps.Context(False, tmp_path)
    assert {s.attention_dropout for s in sweeps.get_sweep("methods").build(ctx)} == {None}
    assert sweeps.Context(True, tmp_path).attention_dropout is None


def test_the_checkpoint_fine_tunes_with_the_attention_dropout_validation_chose():
    """The card's default is the committed sweep's choice, so pl.load_pretrained trains as the sweeps did."""
    from pathlib import Path

    from peft_lab import hub
    results = Path(__file__).resolve().parents[1] / "results"
    chosen, source = sweeps.tuned_attention_dropout(results)
    assert chosen is not None, source
    assert hub.read_card()["model"]["attention_dropout"] == chosen
    assert hub.load_pretrained("cls", 2).config.attention_p == chosen
