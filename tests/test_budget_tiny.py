"""The calculator equals the instantiated module, for every method, on the tiny model.

Every case builds a ``TinyTransformer``, applies the method with ``pl.apply`` and compares
``pl.count_parameters`` with ``budget.count`` / ``budget.parameters`` on the same shapes.
A method not (yet) in ``pl.REGISTRY`` is skipped with its name, so a run shows what is missing.
"""
import pytest
import torch
from safetensors import safe_open

import peft_lab as pl
from peft_lab import budget
from peft_lab.budget.storage import nf4_options, quantized_linear_bytes

SHAPES = {  # two small models: the grid must not depend on the default sizes
    "d32": dict(vocab_size=50, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_len=64),
    "d48": dict(vocab_size=70, d_model=48, n_layers=3, n_heads=3, d_ff=80, max_len=40),
}

SETTINGS = [  # (method, config factory): a grid over each method's options
    ("full", lambda: pl.FullFineTuningConfig()),
    ("head_only", lambda: pl.HeadOnlyConfig()),
    ("bitfit", lambda: pl.BitFitConfig()),
    ("lora", lambda: pl.LoRAConfig(r=8)),
    ("lora", lambda: pl.LoRAConfig(r=1, target_modules="all-linear")),
    ("lora", lambda: pl.LoRAConfig(r=4, target_modules=("o_proj", "down_proj"), use_rslora=True)),
    ("lora", lambda: pl.LoRAConfig(r=2, target_modules=r"layers\.0\..*_proj", dropout=0.1)),
    ("lora", lambda: pl.LoRAConfig(r=4, target_modules=("q_proj", "up_proj"), use_dora=True)),
    ("dylora", lambda: pl.DyLoRAConfig(r=6, min_r=2)),
    ("adalora", lambda: pl.AdaLoRAConfig(init_r=6, target_r=2)),
    ("adalora", lambda: pl.AdaLoRAConfig(init_r=3, target_r=3, target_modules=("k_proj",))),
    ("qlora", lambda: pl.QLoRAConfig(r=4)),
    ("qlora", lambda: pl.QLoRAConfig(r=2, target_modules=("v_proj",), block_size=32, double_quant=False)),
    ("adapter", lambda: pl.AdapterConfig(bottleneck=16)),
    ("adapter", lambda: pl.AdapterConfig(bottleneck=4, placement="pfeiffer", activation="gelu")),
    ("adapter", lambda: pl.AdapterConfig(bottleneck=8, placement="parallel", scale=2.0)),
    ("adapter", lambda: pl.AdapterConfig(bottleneck=5, target_modules=("v_proj", "up_proj"))),
    ("prompt_tuning", lambda: pl.PromptTuningConfig(num_virtual_tokens=5)),
    ("prompt_tuning", lambda: pl.PromptTuningConfig(num_virtual_tokens=17)),
    ("p_tuning", lambda: pl.PTuningConfig(num_virtual_tokens=6, encoder_hidden_size=24)),
    ("p_tuning", lambda: pl.PTuningConfig(num_virtual_tokens=4, encoder_hidden_size=16, encoder="lstm")),
    ("prefix_tuning", lambda: pl.PrefixTuningConfig(num_virtual_tokens=5, encoder_hidden_size=20)),
    ("prefix_tuning", lambda: pl.PrefixTuningConfig(num_virtual_tokens=9, projection=False)),
    ("p_tuning_v2", lambda: pl.PTuningV2Config(num_virtual_tokens=7)),
    ("ia3", lambda: pl.IA3Config()),
    ("ia3", lambda: pl.IA3Config(target_modules=("q_proj", "up_proj"), feedforward_modules=())),
    ("ia3", lambda: pl.IA3Config(target_modules=("up_proj", "down_proj"), feedforward_modules=("down_proj",))),
]
ALL_METHODS = ("full", "head_only", "bitfit", "lora", "dylora", "adalora", "qlora", "adapter",
               "prompt_tuning", "p_tuning", "prefix_tuning", "p_tuning_v2", "ia3")


def make(shape: str, head: str, method: str, make_config):
    if method not in pl.REGISTRY:
        pytest.skip(f"method {method!r} is not implemented yet (not in pl.REGISTRY)")
    cfg = pl.ModelConfig(**SHAPES[shape], head=head, num_labels=3)
    model = pl.TinyTransformer(cfg)
    config = make_config()
    pl.apply(model, config)
    return model, config, budget.tiny_from(cfg), (3 if head == "cls" else None)


def test_the_grid_covers_every_listed_method():
    assert {m for m, _ in SETTINGS} == set(ALL_METHODS) == set(budget.METHODS)


def test_tiny_preset_is_the_default_model():
    assert budget.count("tiny") == pl.count_parameters(pl.TinyTransformer(pl.ModelConfig()))[1]


@pytest.mark.parametrize("head", ["lm", "cls"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("method, make_config", SETTINGS, ids=[f"{m}-{i}" for i, (m, _) in enumerate(SETTINGS)])
def test_count_equals_the_instantiated_module(method, make_config, shape, head):
    model, config, arch, num_labels = make(shape, head, method, make_config)
    trainable, total = pl.count_parameters(model)
    report = budget.parameters(arch, config, num_labels=num_labels)
    assert (report.trainable, report.total) == (trainable, total)
    assert budget.count(arch, config, num_labels=num_labels) == trainable


@pytest.mark.parametrize("method, make_config", [s for s in SETTINGS if s[0] in ("p_tuning", "prefix_tuning")])
def test_folded_count_equals_the_folded_module(method, make_config):
    model, config, arch, num_labels = make("d32", "cls", method, make_config)
    pl.fold(model) if method == "p_tuning" or config.projection else None
    assert pl.count_parameters(model)[0] == budget.count(arch, config, num_labels=num_labels, folded=True)


@pytest.mark.parametrize("targets", [("q_proj", "v_proj"), ("mlp.up_proj",), "all-linear", r"layers\.1\.self_attn\..*",
                                     ("layers.0.self_attn.o_proj", "down_proj"), ("self_attn.k_proj",)])
def test_selection_equals_peft_lab_find_targets(targets):
    model = pl.TinyTransformer(pl.ModelConfig(**SHAPES["d48"]))
    arch = budget.tiny_from(model.config)
    ours = {f"{arch.stacks[m.stack].prefix}.{i}.{m.linear.name}" for m in budget.select(arch, targets) for i in m.layers}
    assert ours == set(pl.methods.base.find_targets(model, targets))


@pytest.mark.parametrize("method, make_config", [s for s in SETTINGS if s[0] in ("lora", "adapter", "ia3", "prefix_tuning",
                                                                               "prompt_tuning", "bitfit", "full")])
def test_adapter_file_holds_what_storage_predicts(method, make_config, tmp_path):
    model, config, arch, num_labels = make("d32", "cls", method, make_config)
    if method == "prefix_tuning" and config.projection:
        pl.fold(model)   # what is deployed: the folded prefix
    pl.save_adapter(model, tmp_path)
    with safe_open(str(tmp_path / "adapter_model.safetensors"), "pt") as f:
        stored = sum(f.get_tensor(k).numel() * f.get_tensor(k).element_size() for k in f.keys())
    assert stored == budget.storage(arch, config, dtype="fp32", num_labels=num_labels).adapter


@pytest.mark.parametrize("options", [dict(), dict(block_size=32, double_quant=False),
                                     dict(block_size=128, double_quant_block_size=32)])
def test_nf4_bytes_equal_the_quantised_model(options):
    """Exact per matrix (zero-padded last block, int8 constants, fp32 scales and mean)."""
    cfg = pl.ModelConfig(**SHAPES["d48"])
    model = pl.apply(pl.TinyTransformer(cfg), pl.QLoRAConfig(r=2, **options))
    layers = [m for m in model.modules() if isinstance(m, pl.methods.nf4.NF4Linear)]
    measured = sum(pl.methods.nf4.storage_bytes(m) for m in layers)
    config = pl.QLoRAConfig(r=2, **options)
    assert quantized_linear_bytes(budget.tiny_from(cfg), "nf4", nf4_options(config))[0] == measured


def test_pretrained_checkpoint_is_counted_like_the_module():
    model = pl.load_pretrained(head="cls", num_labels=2)
    arch = budget.tiny_from(model.config)
    assert budget.count(arch, num_labels=2) == pl.count_parameters(model)[1]
    pl.apply(model, pl.LoRAConfig(r=8, target_modules=("q_proj", "v_proj")))
    assert budget.count(arch, pl.LoRAConfig(r=8), num_labels=2) == pl.count_parameters(model)[0]
