"""The calculator against published numbers and against HF transformers / HF PEFT themselves.

Three independent checks of every count: (1) published figures (model cards, HF PEFT's docs,
papers), (2) HF transformers models of the same architecture built on the "meta" device, which
allocates nothing, and (3) HF PEFT applied to small stand-ins of the same architecture class,
compared with the calculator on the same shapes.
"""
import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import peft_lab as pl
from peft_lab import budget

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings(  # HF's own notices while building stand-ins, not ours
    "ignore:.*is_gradient_checkpointing.*:FutureWarning", "ignore:fan_in_fan_out:UserWarning")

# Published totals: HF transformers' model.num_parameters() of the official checkpoints (as printed
# by HF PEFT's print_trainable_parameters "all params", model cards and papers in brackets).
PUBLISHED = {
    "bert-base": 109_482_240,        # google-bert/bert-base-uncased BertModel (paper: 110M)
    "gpt2": 124_439_808,             # openai-community/gpt2 (paper: 117M, a known miscount)
    "gpt2-large": 774_030_080,       # openai-community/gpt2-large (paper: 762M)
    "opt-350m": 331_196_416,         # facebook/opt-350m; HF PEFT docs: 332,769,280 - 1,572,864 LoRA
    "bloomz-560m": 559_214_592,      # bigscience/bloomz-560m; HF PEFT docs: 559,222,784 - 8,192 prompt
    "t5-base": 222_903_552,          # google-t5/t5-base
    "llama-7b": 6_738_415_616,       # LLaMA-7B (paper: 6.7B); printed by countless PEFT runs
    "llama-65b": 65_285_660_672,     # LLaMA-65B (paper, Table 2: 65.2B)
    "llama-2-13b": 13_015_864_320,   # meta-llama/Llama-2-13b-hf
    "llama-2-70b": 68_976_648_192,   # meta-llama/Llama-2-70b-hf
    "llama-3.2-1b": 1_235_814_400,   # meta-llama/Llama-3.2-1B (model card: 1.23B)
    "qwen2.5-3b": 3_085_938_688,     # Qwen/Qwen2.5-3B (model card: 3.09B, 2.77B non-embedding)
}


def test_every_issue_preset_exists():
    assert set(PUBLISHED) | {"tiny"} <= set(budget.PRESETS)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_preset_total_equals_published_count(name):
    assert budget.count(name) == PUBLISHED[name]


def hf_configs():
    """The HF config of every published preset, from the official config.json sizes."""
    T = transformers
    return {
        "bert-base": (T.BertConfig(), T.BertModel),
        "gpt2": (T.GPT2Config(), T.GPT2LMHeadModel),
        "gpt2-large": (T.GPT2Config(n_embd=1280, n_layer=36, n_head=20), T.GPT2LMHeadModel),
        "opt-350m": (T.OPTConfig(hidden_size=1024, num_hidden_layers=24, ffn_dim=4096, num_attention_heads=16,
                                 word_embed_proj_dim=512, do_layer_norm_before=False), T.OPTForCausalLM),
        "bloomz-560m": (T.BloomConfig(vocab_size=250880, hidden_size=1024, n_layer=24, n_head=16), T.BloomForCausalLM),
        "t5-base": (T.T5Config(d_model=768, d_ff=3072, num_layers=12, num_heads=12, d_kv=64, vocab_size=32128),
                    T.T5ForConditionalGeneration),
        "llama-7b": (T.LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                   num_attention_heads=32), T.LlamaForCausalLM),
        "llama-2-70b": (T.LlamaConfig(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                                      num_attention_heads=64, num_key_value_heads=8), T.LlamaForCausalLM),
        "llama-3.2-1b": (T.LlamaConfig(vocab_size=128256, hidden_size=2048, intermediate_size=8192,
                                       num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                                       tie_word_embeddings=True), T.LlamaForCausalLM),
        "qwen2.5-3b": (T.Qwen2Config(vocab_size=151936, hidden_size=2048, intermediate_size=11008,
                                     num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=2,
                                     tie_word_embeddings=True), T.Qwen2ForCausalLM),
    }


def build_meta(config, cls):
    with torch.device("meta"):   # shapes only: a 70B model costs no memory
        return cls(config)


@pytest.mark.parametrize("name", sorted(hf_configs()))
def test_preset_shapes_equal_the_hf_implementation(name):
    """Not just the total: every module the preset lists exists in HF's model with that shape."""
    config, cls = hf_configs()[name]
    model = build_meta(config, cls)
    arch = budget.PRESETS[name]
    assert model.num_parameters() == budget.count(arch)
    shapes = {n: tuple(m.weight.shape) for n, m in model.named_modules() if hasattr(m, "weight") and m.weight is not None}
    for stack in arch.stacks:
        for linear in stack.linears:
            for i in (0, stack.n_layers - 1):
                full = f"{stack.prefix}.{i}.{linear.name}"
                hf = next(v for k, v in shapes.items() if k == full or k.endswith("." + full))
                assert sorted(hf) == sorted((linear.out_features, linear.in_features)), full  # Conv1D stores (in, out)


# ----------------------------------------------------------------------------- published PEFT counts

def test_llama_7b_lora_on_queries_and_values():
    # brief/DESIGN.md and HF PEFT runs: "trainable params: 4,194,304 || all params: 6,738,415,616"
    assert budget.count("llama-7b", pl.LoRAConfig(r=8, target_modules=("q_proj", "v_proj"))) == 4_194_304


def test_bloomz_prefix_tuning_published():
    # brief/DESIGN.md; a HF PEFT prefix-tuning run (bigscience/bloomz-560m, 20 virtual tokens, no
    # projection; model card of geshijoker/bloomz-560-prefix-tuning):
    # "trainable params: 983,040 || all params: 560,197,632"
    config = pl.PrefixTuningConfig(num_virtual_tokens=20, projection=False)
    report = budget.parameters("bloomz-560m", config)
    assert (report.trainable, report.total) == (983_040, 560_197_632)
    assert budget.count("bloomz-560m", pl.PTuningV2Config(num_virtual_tokens=20)) == 983_040


def test_bloomz_prompt_tuning_published():
    # HF PEFT docs, prompt-based methods guide: "trainable params: 8,192 || all params: 559,222,784"
    report = budget.parameters("bloomz-560m", pl.PromptTuningConfig(num_virtual_tokens=8))
    assert (report.trainable, report.total) == (8_192, 559_222_784)


def test_opt_350m_lora_published():
    # HF PEFT docs, "PEFT configurations and models": LoraConfig(r=16, target_modules=["q_proj", "v_proj"])
    # -> "trainable params: 1,572,864 || all params: 332,769,280"
    report = budget.parameters("opt-350m", pl.LoRAConfig(r=16, target_modules=("q_proj", "v_proj")))
    assert (report.trainable, report.total) == (1_572_864, 332_769_280)


def test_roberta_large_p_tuning_published_with_a_user_defined_architecture():
    # HF PEFT docs (v0.6), "P-tuning for sequence classification": roberta-large, PromptEncoderConfig(
    # num_virtual_tokens=20, encoder_hidden_size=128), SEQ_CLS -> "trainable params: 1351938 || all params: 355662082"
    roberta = budget.bert("roberta-large", 1024, 24, 16, 4096, 50265, max_len=514, type_vocab=1, pooler=False,
                          classifier_dense=True)
    report = budget.parameters(roberta, pl.PTuningConfig(num_virtual_tokens=20, encoder_hidden_size=128), num_labels=2)
    assert (report.trainable, report.total) == (1_351_938, 355_662_082)


# ----------------------------------------------------------------------------- HF PEFT on stand-ins

def small(family):
    """(our Architecture, HF config, HF model class per task) of a small stand-in of each family."""
    T = transformers
    return {
        "llama": (budget.llama("llama-s", 64, 2, 4, 96, 100, 128, n_kv_heads=2),
                  T.LlamaConfig(vocab_size=100, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128),
                  {"CAUSAL_LM": T.LlamaForCausalLM, "SEQ_CLS": T.LlamaForSequenceClassification}),
        "qwen2": (budget.llama("qwen-s", 64, 2, 4, 96, 100, 128, n_kv_heads=1, tied=True, qkv_bias=True),
                  T.Qwen2Config(vocab_size=100, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=True),
                  {"CAUSAL_LM": T.Qwen2ForCausalLM}),
        "gpt2": (budget.gpt2("gpt2-s", 64, 2, 4, vocab=100, max_len=128),
                 T.GPT2Config(vocab_size=100, n_embd=64, n_layer=2, n_head=4, n_positions=128),
                 {"CAUSAL_LM": T.GPT2LMHeadModel, "SEQ_CLS": T.GPT2ForSequenceClassification}),
        "bert": (budget.bert("bert-s", 64, 2, 4, 96, 100, max_len=128),
                 T.BertConfig(vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                              intermediate_size=96, max_position_embeddings=128),
                 {"SEQ_CLS": T.BertForSequenceClassification}),
        "opt": (budget.opt("opt-s", 64, 2, 4, 96, vocab=100, max_len=128, proj_dim=32),
                T.OPTConfig(vocab_size=100, hidden_size=64, num_hidden_layers=2, ffn_dim=96, num_attention_heads=4,
                            word_embed_proj_dim=32, do_layer_norm_before=False, max_position_embeddings=128),
                {"CAUSAL_LM": T.OPTForCausalLM}),
        "bloom": (budget.bloom("bloom-s", 64, 2, 4, vocab=100),
                  T.BloomConfig(vocab_size=100, hidden_size=64, n_layer=2, n_head=4), {"CAUSAL_LM": T.BloomForCausalLM}),
        "t5": (budget.t5("t5-s", 64, 2, 4, 96, d_kv=16, vocab=100),
               T.T5Config(vocab_size=100, d_model=64, d_ff=96, num_layers=2, num_heads=4, d_kv=16),
               {"SEQ_2_SEQ_LM": T.T5ForConditionalGeneration, "SEQ_CLS": T.T5ForSequenceClassification}),
    }[family]


def hf_cases():
    P = peft
    lora = lambda r, t, **kw: (pl.LoRAConfig(r=r, target_modules=t, **kw), P.LoraConfig(r=r, target_modules=t, **kw))
    ptune = lambda enc: (pl.PTuningConfig(num_virtual_tokens=5, encoder_hidden_size=16, encoder=enc),
                         P.PromptEncoderConfig(num_virtual_tokens=5, encoder_hidden_size=16,
                                               encoder_reparameterization_type=enc.upper()))
    prompt = (pl.PromptTuningConfig(num_virtual_tokens=5), P.PromptTuningConfig(num_virtual_tokens=5))
    prefix = (pl.PrefixTuningConfig(num_virtual_tokens=5, encoder_hidden_size=16),
              P.PrefixTuningConfig(num_virtual_tokens=5, prefix_projection=True, encoder_hidden_size=16))
    prefix_v2 = (pl.PTuningV2Config(num_virtual_tokens=5), P.PrefixTuningConfig(num_virtual_tokens=5))
    ia3 = lambda t, ff: (pl.IA3Config(target_modules=t, feedforward_modules=ff),
                         P.IA3Config(target_modules=list(t), feedforward_modules=list(ff)))
    return [
        ("llama", "CAUSAL_LM", *lora(4, ("q_proj", "v_proj"))),
        ("llama", "CAUSAL_LM", *lora(4, "all-linear")),
        ("llama", "CAUSAL_LM", *lora(4, "all-linear", use_dora=True)),
        ("llama", "CAUSAL_LM", pl.AdaLoRAConfig(init_r=6, target_r=2, target_modules=("q_proj", "k_proj", "v_proj")),
         P.AdaLoraConfig(init_r=6, target_r=2, total_step=10, target_modules=["q_proj", "k_proj", "v_proj"])),
        ("llama", "CAUSAL_LM", *ia3(("k_proj", "v_proj", "down_proj"), ("down_proj",))),
        ("llama", "CAUSAL_LM", *prompt),
        ("llama", "CAUSAL_LM", *ptune("mlp")),
        ("llama", "CAUSAL_LM", *ptune("lstm")),
        ("llama", "CAUSAL_LM", *prefix),       # grouped-query attention: HF's token_dim is n_kv_heads x head_dim
        ("llama", "CAUSAL_LM", *prefix_v2),
        ("llama", "SEQ_CLS", *lora(4, ("q_proj", "v_proj"))),
        ("llama", "SEQ_CLS", *prefix),
        ("llama", "CAUSAL_LM", *lora(4, r".*\.layers\.1\.self_attn\.(q|v)_proj")),
        ("llama", "CAUSAL_LM", *lora(4, ("model.layers.0.mlp.up_proj", "o_proj"))),
        ("qwen2", "CAUSAL_LM", *lora(4, "all-linear")),
        ("qwen2", "CAUSAL_LM", *prefix),
        ("gpt2", "CAUSAL_LM", *lora(4, ("c_attn",))),
        ("gpt2", "CAUSAL_LM", *lora(4, ("c_proj",))),        # both attn.c_proj and mlp.c_proj, as in HF
        ("gpt2", "CAUSAL_LM", *lora(4, "all-linear")),       # Conv1D counts as linear
        ("gpt2", "CAUSAL_LM", *ia3(("c_attn", "mlp.c_proj"), ("mlp.c_proj",))),
        ("gpt2", "SEQ_CLS", *lora(8, ("c_attn",))),         # the `score` head trains (modules_to_save)
        ("bert", "SEQ_CLS", *lora(4, ("query", "value"))),
        ("bert", "SEQ_CLS", *lora(4, "all-linear")),         # includes pooler.dense, excludes the classifier
        ("bert", "SEQ_CLS", *ptune("lstm")),
        ("opt", "CAUSAL_LM", *lora(4, "all-linear")),        # project_in / project_out too
        ("bloom", "CAUSAL_LM", *lora(4, ("query_key_value",))),
        ("bloom", "CAUSAL_LM", *prefix_v2),
        ("t5", "SEQ_2_SEQ_LM", *lora(4, ("q", "v"))),       # encoder, decoder and cross-attention
        ("t5", "SEQ_2_SEQ_LM", *prompt),                    # one prompt per stack: 2 L d
        ("t5", "SEQ_2_SEQ_LM", *ptune("mlp")),
        ("t5", "SEQ_2_SEQ_LM", *prefix),
        ("t5", "SEQ_2_SEQ_LM", *ia3(("k", "v", "wo"), ("wo",))),
        ("t5", "SEQ_CLS", *lora(8, ("q", "v"))),            # `classification_head` is not in modules_to_save
    ]


@pytest.mark.parametrize("family, task, ours, theirs", hf_cases(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_trainable_count_equals_hf_peft(family, task, ours, theirs):
    arch, hf_config, classes = small(family)
    num_labels = 3 if task == "SEQ_CLS" else None
    if num_labels:
        hf_config.num_labels = num_labels
    theirs = copy.deepcopy(theirs)   # HF fills in (mutates) a config when it is used
    theirs.task_type = task
    model = peft.get_peft_model(build_meta(hf_config, classes[task]), theirs)
    hf_trainable, hf_total = model.get_nb_trainable_parameters()
    # HF's AdaLoRA lists a constant `ranknum` scalar per adapted layer as a trainable parameter
    ranknum = sum(1 for n, _ in model.named_parameters() if ".ranknum." in n)
    assert budget.count(arch, ours, num_labels=num_labels) == hf_trainable - ranknum
    if num_labels is None:   # HF's total counts a trained head twice (the original and the copy it saves)
        assert budget.parameters(arch, ours).total == hf_total - ranknum


@pytest.mark.parametrize("family, head", [("t5", "classification_head"), ("bert", "classifier"),
                                          ("llama", "score")])
def test_train_head_follows_hf_peft_modules_to_save(family, head):
    """HF PEFT trains the classifier iff its module name is in modules_to_save; train_head= says
    which, and its default is what HF PEFT's own default does on that architecture."""
    arch, hf_config, classes = small(family)
    hf_config.num_labels = 3
    targets = {"t5": ("q", "v"), "bert": ("query", "value"), "llama": ("q_proj", "v_proj")}[family]
    ours = pl.LoRAConfig(r=8, target_modules=targets)
    counts = {}
    for modules_to_save in (None, [head]):
        theirs = peft.LoraConfig(r=8, target_modules=list(targets), task_type="SEQ_CLS", modules_to_save=modules_to_save)
        model = peft.get_peft_model(build_meta(hf_config, classes["SEQ_CLS"]), theirs)
        counts[modules_to_save is not None] = model.get_nb_trainable_parameters()[0]
    assert budget.count(arch, ours, num_labels=3, train_head=True) == counts[True]
    lora_only = budget.count(arch, ours)
    assert counts[True] > lora_only                       # the head is really counted when it trains
    assert budget.count(arch, ours, num_labels=3, train_head=False) == lora_only
    assert budget.count(arch, ours, num_labels=3) == counts[False]   # the default is HF PEFT's default


def test_train_head_is_checked():
    with pytest.raises(TypeError, match="train_head='yes'"):
        budget.count("bert-base", pl.LoRAConfig(target_modules=("query",)), num_labels=2, train_head="yes")
    with pytest.raises(ValueError, match="head_only"):
        budget.count("t5-base", pl.HeadOnlyConfig(), num_labels=2, train_head=False)
    assert budget.count("t5-base", pl.HeadOnlyConfig(), num_labels=2) > 0   # head_only trains it, T5 or not


def test_stand_in_totals_equal_hf():
    for family in ("llama", "qwen2", "gpt2", "opt", "bloom", "t5"):
        arch, hf_config, classes = small(family)
        model = build_meta(hf_config, next(iter(classes.values())))
        assert budget.count(arch) == model.num_parameters(), family
    arch, hf_config, classes = small("bert")
    hf_config.num_labels = 3
    assert budget.count(arch, num_labels=3) == build_meta(hf_config, classes["SEQ_CLS"]).num_parameters()


# ----------------------------------------------------------------------------- other methods, by formula

def test_bitfit_trains_no_bias_of_llama_and_every_bias_of_bert():
    assert budget.count("llama-7b", pl.BitFitConfig()) == 0           # LLaMA has no bias at all
    model = build_meta(transformers.BertConfig(), transformers.BertModel)
    assert budget.count("bert-base", pl.BitFitConfig()) == sum(p.numel() for n, p in model.named_parameters()
                                                               if n.endswith("bias"))


def test_adapter_placements_relate_as_the_papers_describe():
    """Houlsby: two adapters per layer (after attention and FFN); Pfeiffer: one (after the FFN);
    parallel: one beside the FFN, of the same width d -- so Houlsby costs twice the others."""
    counts = {p: budget.count("llama-7b", pl.AdapterConfig(bottleneck=64, placement=p))
              for p in ("houlsby", "pfeiffer", "parallel")}
    assert counts["houlsby"] == 2 * counts["pfeiffer"] == 2 * counts["parallel"]


def test_folding_prefix_tuning_leaves_exactly_p_tuning_v2():
    """The MLP only reparameterises the per-layer key/value vectors: folded, it is P-Tuning v2."""
    for name in ("gpt2", "llama-2-70b", "t5-base"):
        config = pl.PrefixTuningConfig(num_virtual_tokens=30, encoder_hidden_size=512)
        folded = budget.count(name, config, folded=True)
        assert folded == budget.count(name, pl.PTuningV2Config(num_virtual_tokens=30)) < budget.count(name, config)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call, words", [
    (lambda: budget.count("llama-8b"), ["llama-7b", "presets"]),
    (lambda: budget.count("tiny", pl.LoRAConfig(r=200)), ["r=200", "128"]),
    (lambda: budget.count("tiny", pl.PromptTuningConfig(num_virtual_tokens=256)), ["256", "255"]),
    (lambda: budget.count("tiny", pl.AdapterConfig(bottleneck=128)), ["bottleneck=128", "127"]),
    (lambda: budget.count("gpt2", pl.LoRAConfig(target_modules=("q_proj",))), ["c_attn", "q_proj"]),
    (lambda: budget.count("bert-base", pl.HeadOnlyConfig()), ["num_labels"]),
    (lambda: budget.training_memory("tiny", batch_size=0), ["batch_size=0"]),
    (lambda: budget.training_memory("tiny", seq_len=300), ["256"]),
    (lambda: budget.training_memory("tiny", precision="fp8"), ["fp8", "bf16"]),
    (lambda: budget.training_memory("tiny", optimizer="adam"), ["adamw8bit"]),
    (lambda: budget.training_memory("llama-7b", precision="nf4"), ["4-bit"]),
    (lambda: budget.storage("tiny", dtype="int4"), ["int4", "nf4"]),
])
def test_impossible_settings_are_clear_value_errors(call, words):
    with pytest.raises(ValueError) as err:
        call()
    for word in words:
        assert word in str(err.value)


def test_unknown_method_is_a_value_error_listing_methods():
    class Odd:
        method = "vera"
    with pytest.raises(ValueError, match="lora"):
        budget.count("tiny", Odd())


# ----------------------------------------------------------------------------- no torch, readable

def test_budget_imports_without_torch():
    """peft_lab/__init__.py imports torch, so load the budget package under a bare parent package:
    this proves budget itself never needs torch (see the report on making `pl.budget` lazy)."""
    code = ("import sys, types\n"
            f"pkg = types.ModuleType('peft_lab'); pkg.__path__ = [{str(ROOT / 'peft_lab')!r}]\n"
            "sys.modules['peft_lab'] = pkg\n"
            "from peft_lab import budget\n"
            "assert budget.count('llama-7b') == 6738415616\n"
            "budget.training_memory('llama-7b', precision='mixed'); budget.storage('gpt2')\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy'))\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": ""}, cwd="/")
    assert out.stdout.strip() == "[]"


def test_reports_print_tables_with_human_units():
    text = str(budget.parameters("llama-7b", pl.LoRAConfig(r=8)))
    assert "4.19 M" in text and "6.74 B" in text
    text = str(budget.training_memory("llama-7b", pl.LoRAConfig(r=8), precision="bf16"))
    assert "GiB" in text and "optimizer state" in text
    assert "x" in str(budget.storage("llama-7b", pl.LoRAConfig(r=8), n_tasks=10))


# ----------------------------------------------------------------------------- storage

def test_nf4_costs_the_bits_the_qlora_paper_states():
    # QLoRA paper, section 3: fp32 absmax per 64 weights = 32/64 = 0.5 bit; double quantisation
    # 8/64 + 32/(64 * 256) = 0.127 bit per parameter
    assert budget.nf4_bits_per_weight(double_quant=False) == 4.5
    assert budget.nf4_bits_per_weight() == pytest.approx(4.127, abs=5e-4)
    stored = budget.storage("llama-7b", dtype="nf4").base
    linear = sum(s.n_layers * l.in_features * l.out_features for s in budget.PRESETS["llama-7b"].stacks
                 for l in s.linears)
    kept = (budget.count("llama-7b") - linear) * 2
    assert 8 * (stored - kept) / linear == pytest.approx(4.127, abs=1e-3)


def test_serving_many_tasks_costs_one_base_plus_small_adapters():
    one = budget.storage("llama-7b", pl.LoRAConfig(r=8), dtype="bf16", n_tasks=1)
    many = budget.storage("llama-7b", pl.LoRAConfig(r=8), dtype="bf16", n_tasks=100)
    assert one.base == 2 * PUBLISHED["llama-7b"]                      # bf16: 2 bytes per parameter
    assert many.serving < 1.1 * many.base < many.full_copies / 90     # 100 adapters < 10 % of the base
    full = budget.storage("llama-7b", pl.FullFineTuningConfig(), dtype="bf16", n_tasks=100)
    assert full.serving == full.full_copies and full.saving == 1


def test_calculator_explains_a_bare_name_string_as_the_model_does():
    """The calculator reads target_modules exactly as the injection does, and says so alike."""
    with pytest.raises(ValueError, match=r"regular expression.*target_modules=\('q_proj',\)"):
        pl.budget.count("llama-7b", pl.LoRAConfig(r=8, target_modules="q_proj"))
    assert pl.budget.count("llama-7b", pl.LoRAConfig(r=8, target_modules=r".*\.(q_proj|v_proj)")) == \
        pl.budget.count("llama-7b", pl.LoRAConfig(r=8, target_modules=("q_proj", "v_proj")))
