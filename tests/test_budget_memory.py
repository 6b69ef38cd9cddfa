"""Training memory: the calculator against measurement (tiny model) and against published figures.

Measured the way ``pl.fit`` measures (``peft_lab.measured_memory``): weights, gradients and optimizer
state from the tensors after one real optimisation step, activations with
``SavedTensorMeter`` over one forward pass in train mode (dropout 0.1 on, as in ``fit``).
"""
import pytest
import torch
import torch.nn.functional as F

import peft_lab as pl
from peft_lab import budget
from peft_lab.measured_memory import SavedTensorMeter, gradient_bytes, optimizer_state_bytes, weight_bytes

SHAPE = dict(vocab_size=60, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_len=64, dropout=0.1)
BATCHES = [(1, 5), (4, 16), (8, 40)]   # (batch size, sequence length)
CONFIGS = {
    "full": lambda: pl.FullFineTuningConfig(),
    "head_only": lambda: pl.HeadOnlyConfig(),
    "lora": lambda: pl.LoRAConfig(r=4),
    "lora_all_dropout": lambda: pl.LoRAConfig(r=2, target_modules="all-linear", dropout=0.1),
    "dora": lambda: pl.LoRAConfig(r=4, use_dora=True),
    "dylora": lambda: pl.DyLoRAConfig(r=4),
    "adalora": lambda: pl.AdaLoRAConfig(init_r=4, target_r=2),
    "qlora": lambda: pl.QLoRAConfig(r=4),
    "bitfit": lambda: pl.BitFitConfig(),
    "adapter": lambda: pl.AdapterConfig(bottleneck=8),
    "adapter_parallel": lambda: pl.AdapterConfig(bottleneck=8, placement="parallel", activation="gelu"),
    "prompt_tuning": lambda: pl.PromptTuningConfig(num_virtual_tokens=6),
    "p_tuning": lambda: pl.PTuningConfig(num_virtual_tokens=6, encoder_hidden_size=16),
    "prefix_tuning": lambda: pl.PrefixTuningConfig(num_virtual_tokens=6, encoder_hidden_size=16),
    "p_tuning_v2": lambda: pl.PTuningV2Config(num_virtual_tokens=6),
    "ia3": lambda: pl.IA3Config(),
}


def model_and_arch(head: str, make_config):
    cfg = pl.ModelConfig(**SHAPE, head=head, num_labels=3)
    model = pl.apply(pl.TinyTransformer(cfg), make_config()).train()
    return model, budget.tiny_from(cfg), (3 if head == "cls" else None)


def predicted(arch, model, num_labels, B, T, **kw):
    return budget.training_memory(arch, model.peft_config, batch_size=B, seq_len=T, num_labels=num_labels,
                                  backend="peft_lab", **kw)   # this package on a CPU: fp32, float dropout masks


def loss_of(model, ids, head):
    logits = model(ids)
    if head == "cls":
        return F.cross_entropy(logits, torch.zeros(len(ids), dtype=torch.long))
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


@pytest.mark.parametrize("optimizer", ["adamw", "sgd_momentum", "sgd"])
@pytest.mark.parametrize("head", ["lm", "cls"])
@pytest.mark.parametrize("name", ["full", "head_only", "lora", "qlora", "prefix_tuning", "adapter"])
def test_weights_gradients_and_optimizer_state_are_exact(name, head, optimizer):
    model, arch, num_labels = model_and_arch(head, CONFIGS[name])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = {"adamw": lambda: torch.optim.AdamW(params, lr=1e-3),
           "sgd_momentum": lambda: torch.optim.SGD(params, lr=1e-3, momentum=0.9),
           "sgd": lambda: torch.optim.SGD(params, lr=1e-3)}[optimizer]()
    ids = torch.randint(0, SHAPE["vocab_size"], (2, 8))
    loss_of(model, ids, head).backward()
    opt.step()
    want = predicted(arch, model, num_labels, 2, 8, optimizer=optimizer)
    assert (want.weights, want.gradients, want.optimizer_state) == (
        weight_bytes(model), gradient_bytes(model), optimizer_state_bytes(opt))


@pytest.mark.parametrize("B, T", BATCHES)
@pytest.mark.parametrize("head", ["lm", "cls"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_activations_match_the_saved_tensor_meter(name, head, B, T):
    model, arch, num_labels = model_and_arch(head, CONFIGS[name])
    ids = torch.randint(0, SHAPE["vocab_size"], (B, T))
    with SavedTensorMeter(model) as meter:
        model(ids)
    assert predicted(arch, model, num_labels, B, T).activations == pytest.approx(meter.bytes, rel=0.10)


@pytest.mark.parametrize("attention_dropout", [0.0, 0.1])
@pytest.mark.parametrize("name", ["full", "lora"])
def test_activations_follow_the_attention_dropout_of_the_model(name, attention_dropout):
    """Attention dropout is its own ModelConfig field: without it no mask is saved, and the flash
    kernel may keep less; the calculator reads the field through tiny_from."""
    cfg = pl.ModelConfig(**SHAPE, head="cls", num_labels=3, attention_dropout=attention_dropout)
    model = pl.apply(pl.TinyTransformer(cfg), CONFIGS[name]()).train()
    arch = budget.tiny_from(cfg)
    assert arch.attention_dropout == attention_dropout
    ids = torch.randint(0, SHAPE["vocab_size"], (4, 24))
    with SavedTensorMeter(model) as meter:
        model(ids)
    assert predicted(arch, model, 3, 4, 24).activations == pytest.approx(meter.bytes, rel=0.10)


@pytest.mark.parametrize("head", ["lm", "cls"])
@pytest.mark.parametrize("name", ["full", "head_only", "lora"])
def test_activations_with_the_loss_match_what_fit_measures(name, head):
    """``fit`` meters the forward pass and the loss together."""
    model, arch, num_labels = model_and_arch(head, CONFIGS[name])
    ids = torch.randint(0, SHAPE["vocab_size"], (4, 24))
    with SavedTensorMeter(model) as meter:
        loss_of(model, ids, head)
    want = predicted(arch, model, num_labels, 4, 24, include_loss=True).activations
    assert want == pytest.approx(meter.bytes, rel=0.10)


def test_peft_saves_activation_memory_because_frozen_linears_keep_no_input():
    model, arch, _ = model_and_arch("cls", CONFIGS["full"])
    full = predicted(arch, model, 3, 8, 40).activations
    lora = budget.training_memory(arch, pl.LoRAConfig(r=4), batch_size=8, seq_len=40, num_labels=3,
                                  backend="peft_lab").activations
    head = budget.training_memory(arch, pl.HeadOnlyConfig(), batch_size=8, seq_len=40, num_labels=3).activations
    assert head < lora < full


# ----------------------------------------------------------------------------- published anchors

def test_korthikanti_per_layer_formula():
    """Korthikanti et al. 2022, eq. 2: a GPT layer in 16 bits keeps s·b·h·(34 + 5·a·s/h) bytes (full
    fine-tuning, dropout on, 1-byte masks); we also count the norms' fp32 statistics, 16 bytes a token."""
    for h, heads, s, b in [(768, 12, 1024, 4), (1600, 25, 512, 2), (4096, 32, 2048, 1)]:
        two, three = (budget.training_memory(budget.gpt2("g", h, n, heads, max_len=4096), precision="bf16",
                                             batch_size=b, seq_len=s).activations for n in (2, 3))
        assert three - two == s * b * h * (34 + 5 * heads * s / h) + 16 * s * b


def test_mixed_precision_adam_is_16_bytes_per_parameter():
    """ZeRO (Rajbhandari et al. 2020), section 3.1: 2 + 2 + 12 = 16 bytes per parameter."""
    m = budget.training_memory("llama-7b", precision="mixed", seq_len=1)
    assert m.weights + m.gradients + m.optimizer_state == 16 * budget.count("llama-7b")


def test_8bit_adam_keeps_a_quarter_of_the_optimizer_state():
    """Dettmers et al. 2022 (8-bit optimizers): 8-bit states use ~75 % less memory than 32-bit ones."""
    states = {o: budget.training_memory("llama-2-13b", precision="bf16", optimizer=o, seq_len=1).optimizer_state
              for o in ("adamw", "adamw8bit")}
    assert states["adamw8bit"] / states["adamw"] == pytest.approx(0.25, abs=0.005)


def test_qlora_paper_65b_anchors():
    """QLoRA (Dettmers et al. 2023), abstract: QLoRA reduces the memory to finetune a 65B model
    "from >780GB of GPU memory to <48GB" (a single 48 GB GPU). Setup from the paper: LLaMA-65B,
    NF4 with double quantisation, LoRA r=64 on every linear layer, BF16, gradient checkpointing."""
    full = budget.training_memory("llama-65b", precision="bf16", batch_size=1, seq_len=512)
    assert full.total > 780e9
    qlora = budget.training_memory("llama-65b", pl.QLoRAConfig(r=64, target_modules="all-linear"), precision="nf4",
                                   batch_size=1, seq_len=512, gradient_checkpointing=True, include_loss=True)
    assert qlora.total < 48e9
    assert qlora.weights < 0.3 * 2 * budget.count("llama-65b")   # 4.127 bits instead of 16


def test_fused_attention_and_checkpointing_remove_what_they_should():
    def act(**kw):
        return budget.training_memory("llama-7b", pl.LoRAConfig(r=8), precision="bf16", **kw).activations
    eager, flash = act(seq_len=2048), act(seq_len=2048, attention="flash")
    assert flash < eager
    assert act(seq_len=2048, attention="flash") == pytest.approx(2 * act(seq_len=1024, attention="flash"), rel=0.01)
    assert act(seq_len=2048, gradient_checkpointing=True) < 0.2 * eager


def test_fit_measures_what_the_calculator_predicts():
    """End to end: one real ``pl.fit`` step on the sentiment task (reviews longer than max_len=32,
    so every batch is 8 x 32 tokens) against the calculator, part by part."""
    model = pl.apply(pl.load_pretrained(head="cls", num_labels=2), pl.LoRAConfig(r=8))
    result = pl.fit(model, task="sentiment", steps=1, lr=1e-3, seed=0, progress=False, train_size=64,
                    eval_size=32, evaluate_test=False, batch_size=8, max_len=32)
    want = budget.training_memory(budget.tiny_from(model.config), pl.LoRAConfig(r=8), num_labels=2, batch_size=8,
                                  seq_len=32, backend="peft_lab", include_loss=True)
    got = result.memory
    assert (want.weights, want.gradients, want.optimizer_state) == (got.weights, got.gradients, got.optimizer_state)
    assert want.activations == pytest.approx(got.activations, rel=0.10)
