"""Published architectures with their exact shapes, and the builders that make them.

Every preset's total equals the parameter count of the official checkpoint (HF transformers'
``model.num_parameters()``, which counts a tied embedding once); the numbers and their sources
are in the comments below and are checked in ``tests/test_budget.py``. A builder takes the
sizes of its family, so a model that is not listed is one call away, e.g.
``llama("my-llama", d=2048, n_layers=22, n_heads=32, d_ff=5632, vocab=32000, n_kv_heads=4)``.
"""
from __future__ import annotations

from .arch import Architecture, Extra, Linear, Stack


def _attention(d: int, kv: int, names, bias_qkv: bool, bias_o: bool, prefix: str = "", cross=False):
    """Four linears q, k, v, o with the given (native) names; k and v are d -> kv (GQA: kv < d)."""
    q, k, v, o = names
    r = "cross_" if cross else ""
    return (Linear(prefix + q, d, d, bias_qkv, r + "q"), Linear(prefix + k, d, kv, bias_qkv, r + "k"),
            Linear(prefix + v, d, kv, bias_qkv, r + "v"), Linear(prefix + o, d, d, bias_o, r + "o"))


def llama(name, d, n_layers, n_heads, d_ff, vocab, max_len=4096, n_kv_heads=None, tied=False,
          qkv_bias=False, source="") -> Architecture:
    """LLaMA family (also Qwen2 with ``qkv_bias=True``): RMSNorm, SwiGLU FFN, rotary positions, no biases."""
    kv = (n_kv_heads or n_heads) * (d // n_heads)
    linears = _attention(d, kv, ("q_proj", "k_proj", "v_proj", "o_proj"), qkv_bias, False, "self_attn.") + (
        Linear("mlp.gate_proj", d, d_ff, False, "gate"), Linear("mlp.up_proj", d, d_ff, False, "up"),
        Linear("mlp.down_proj", d_ff, d, False, "down"))
    return Architecture(
        name, d, n_heads, vocab, max_len, (Stack("model.layers", n_layers, linears, 2 * d),),
        extras=(Extra("model.embed_tokens", vocab * d, "embedding"), Extra("model.norm", d, "norm")),
        lm_head=Linear("lm_head", d, vocab, False), tie_word_embeddings=tied, n_kv_heads=n_kv_heads,
        ffn="swiglu", norm="rmsnorm", classifier_bias=False, pooling="last", source=source)


def gpt2(name, d, n_layers, n_heads, vocab=50257, max_len=1024, source="") -> Architecture:
    """GPT-2: Conv1D layers, one fused c_attn (d -> 3d), pre-LN, learned positions, tied head."""
    linears = (Linear("attn.c_attn", d, 3 * d, True, "qkv"), Linear("attn.c_proj", d, d, True, "o"),
               Linear("mlp.c_fc", d, 4 * d, True, "up"), Linear("mlp.c_proj", 4 * d, d, True, "down"))
    return Architecture(
        name, d, n_heads, vocab, max_len, (Stack("transformer.h", n_layers, linears, 2 * d, 2 * d),),
        extras=(Extra("transformer.wte", vocab * d, "embedding"), Extra("transformer.wpe", max_len * d, "embedding"),
                Extra("transformer.ln_f.weight", d, "norm"), Extra("transformer.ln_f.bias", d, "bias")),
        lm_head=Linear("lm_head", d, vocab, False), tie_word_embeddings=True, dropout=0.1,
        attention_dropout=0.1, learned_positions=True, classifier_bias=False, source=source)


def bert(name, d, n_layers, n_heads, d_ff, vocab, max_len=512, type_vocab=2, pooler=True,
         classifier_dense=False, source="") -> Architecture:
    """BERT/RoBERTa encoder (``BertModel``: no LM head), post-LN, learned positions."""
    linears = _attention(d, d, ("attention.self.query", "attention.self.key", "attention.self.value",
                                "attention.output.dense"), True, True) + (
        Linear("intermediate.dense", d, d_ff, True, "up"), Linear("output.dense", d_ff, d, True, "down"))
    emb = "embeddings."
    return Architecture(
        name, d, n_heads, vocab, max_len,
        (Stack("encoder.layer", n_layers, linears, 2 * d, 2 * d, ffn_block="intermediate"),),
        extras=(Extra(emb + "word_embeddings", vocab * d, "embedding"),
                Extra(emb + "position_embeddings", max_len * d, "embedding"),
                Extra(emb + "token_type_embeddings", type_vocab * d, "embedding"),
                Extra(emb + "LayerNorm.weight", d, "norm"), Extra(emb + "LayerNorm.bias", d, "bias")),
        extra_linears=(Linear("pooler.dense", d, d, True),) if pooler else (),
        dropout=0.1, attention_dropout=0.1, learned_positions=True, classifier_dense=classifier_dense,
        pooling="first", source=source)


def opt(name, d, n_layers, n_heads, d_ff, vocab=50272, max_len=2048, proj_dim=None, source="") -> Architecture:
    """OPT: ReLU FFN (fc1, fc2), learned positions (+2 offset rows), tied head; OPT-350m alone is
    post-LN without a final norm and embeds in 512 dims with project_in / project_out."""
    proj = proj_dim or d
    linears = _attention(d, d, ("q_proj", "k_proj", "v_proj", "out_proj"), True, True, "self_attn.") + (
        Linear("fc1", d, d_ff, True, "up"), Linear("fc2", d_ff, d, True, "down"))
    extras = (Extra("model.decoder.embed_tokens", vocab * proj, "embedding"),
              Extra("model.decoder.embed_positions", (max_len + 2) * d, "embedding"))
    outside = ()
    if proj != d:
        outside = (Linear("model.decoder.project_out", d, proj, False), Linear("model.decoder.project_in", proj, d, False))
    else:
        extras += (Extra("model.decoder.final_layer_norm.weight", d, "norm"),
                   Extra("model.decoder.final_layer_norm.bias", d, "bias"))
    return Architecture(
        name, d, n_heads, vocab, max_len, (Stack("model.decoder.layers", n_layers, linears, 2 * d, 2 * d, ffn_block="fc1"),),
        extras=extras, extra_linears=outside, lm_head=Linear("lm_head", proj, vocab, False), tie_word_embeddings=True,
        ffn="relu", dropout=0.1, learned_positions=True, classifier_bias=False, source=source)


def bloom(name, d, n_layers, n_heads, vocab=250880, max_len=2048, source="") -> Architecture:
    """BLOOM: fused query_key_value, ALiBi (no position table), LayerNorm after the embedding, tied head."""
    linears = (Linear("self_attention.query_key_value", d, 3 * d, True, "qkv"),
               Linear("self_attention.dense", d, d, True, "o"),
               Linear("mlp.dense_h_to_4h", d, 4 * d, True, "up"), Linear("mlp.dense_4h_to_h", 4 * d, d, True, "down"))
    return Architecture(
        name, d, n_heads, vocab, max_len, (Stack("transformer.h", n_layers, linears, 2 * d, 2 * d),),
        extras=(Extra("transformer.word_embeddings", vocab * d, "embedding"),
                Extra("transformer.word_embeddings_layernorm.weight", d, "norm"),
                Extra("transformer.word_embeddings_layernorm.bias", d, "bias"),
                Extra("transformer.ln_f.weight", d, "norm"), Extra("transformer.ln_f.bias", d, "bias")),
        lm_head=Linear("lm_head", d, vocab, False), tie_word_embeddings=True, classifier_bias=False, source=source)


def t5(name, d, n_layers, n_heads, d_ff, d_kv=64, vocab=32128, max_len=512, buckets=32, source="") -> Architecture:
    """T5 (v1.0): encoder-decoder, no biases, RMS-style norms, ReLU FFN (wi, wo), relative position
    biases in the first layer of each stack, decoder layers with cross-attention, tied head."""
    inner = n_heads * d_kv
    names = ("q", "k", "v", "o")

    def attn(prefix, cross=False):
        q, k, v, o = _attention(d, inner, names, False, False, prefix, cross)
        return (Linear(q.name, d, inner, False, q.role), k, v, Linear(o.name, inner, d, False, o.role))

    def ffn(i):
        return (Linear(f"layer.{i}.DenseReluDense.wi", d, d_ff, False, "up"),
                Linear(f"layer.{i}.DenseReluDense.wo", d_ff, d, False, "down"))

    enc = Stack("encoder.block", n_layers, attn("layer.0.SelfAttention.") + ffn(1), 2 * d,
                ffn_block="layer.1.DenseReluDense")
    dec = Stack("decoder.block", n_layers, attn("layer.0.SelfAttention.") + attn("layer.1.EncDecAttention.", True)
                + ffn(2), 3 * d, ffn_block="layer.2.DenseReluDense", cross_attention=True)
    rel = "block.0.layer.0.SelfAttention.relative_attention_bias"
    return Architecture(
        name, d, n_heads, vocab, max_len, (enc, dec),
        extras=(Extra("shared", vocab * d, "embedding"), Extra("encoder." + rel, buckets * n_heads),
                Extra("decoder." + rel, buckets * n_heads), Extra("encoder.final_layer_norm", d, "norm"),
                Extra("decoder.final_layer_norm", d, "norm")),
        lm_head=Linear("lm_head", d, vocab, False), tie_word_embeddings=True, head_dim=d_kv, ffn="relu",
        norm="rmsnorm", dropout=0.1, attention_dropout=0.1, classifier_dense=True, pooling="last",
        classifier_trains=False, source=source)   # classification_head: not in HF PEFT's modules_to_save


def tiny(vocab_size=4000, d_model=128, n_layers=4, n_heads=4, d_ff=512, max_len=256, dropout=0.1,
         attention_dropout=None, name="tiny") -> Architecture:
    """peft_lab's TinyTransformer (``peft_lab/model.py``): pre-LN, GELU, learned positions, every
    block linear with a bias, untied LM head without bias, classifier Linear(d, labels) with bias
    over the mean of the token states. Takes ``ModelConfig``'s field names (``attention_dropout``
    None = the same as ``dropout``, as in ``ModelConfig``)."""
    d = d_model
    linears = _attention(d, d, ("q_proj", "k_proj", "v_proj", "o_proj"), True, True, "self_attn.") + (
        Linear("mlp.up_proj", d, d_ff, True, "up"), Linear("mlp.down_proj", d_ff, d, True, "down"))
    return Architecture(
        name, d, n_heads, vocab_size, max_len, (Stack("layers", n_layers, linears, 2 * d, 2 * d),),
        extras=(Extra("embed_tokens", vocab_size * d, "embedding"), Extra("embed_positions", max_len * d, "embedding"),
                Extra("norm.weight", d, "norm"), Extra("norm.bias", d, "bias")),
        lm_head=Linear("head", d, vocab_size, False), dropout=dropout,
        attention_dropout=dropout if attention_dropout is None else attention_dropout,
        learned_positions=True, pooling="mean", source="peft_lab/model.py")


def tiny_from(model_config, name="tiny") -> Architecture:
    """The ``tiny`` architecture of a ``peft_lab.ModelConfig`` (read by attribute: no torch needed)."""
    fields = ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_len", "dropout")
    return tiny(**{f: getattr(model_config, f) for f in fields},
                attention_dropout=getattr(model_config, "attention_dropout", None), name=name)


# Published totals (HF ``num_parameters()`` of the official checkpoint unless noted) are repeated
# in tests/test_budget.py, which checks them and, independently, against HF models built on "meta".
PRESETS: dict[str, Architecture] = {
    # 109,482,240: BertModel of google-bert/bert-base-uncased (the paper's "110M"; pooler included)
    "bert-base": bert("bert-base", 768, 12, 12, 3072, 30522, source="HF BertModel bert-base-uncased: 109,482,240"),
    # 124,439,808: openai-community/gpt2 (the GPT-2 paper's "117M" miscounted)
    "gpt2": gpt2("gpt2", 768, 12, 12, source="HF gpt2: 124,439,808"),
    # 774,030,080: openai-community/gpt2-large (paper: "762M")
    "gpt2-large": gpt2("gpt2-large", 1280, 36, 20, source="HF gpt2-large: 774,030,080"),
    # 331,196,416: facebook/opt-350m; HF PEFT docs ("PEFT configurations and models"), LoRA r=16 on
    # q_proj, v_proj: "trainable params: 1,572,864 || all params: 332,769,280"
    "opt-350m": opt("opt-350m", 1024, 24, 16, 4096, proj_dim=512, source="HF facebook/opt-350m: 331,196,416"),
    # 559,214,592: bigscience/bloomz-560m; HF PEFT docs (prompt-based methods guide), prompt tuning
    # with 8 tokens: "trainable params: 8,192 || all params: 559,222,784"; a prefix-tuning run with
    # 20 tokens (model card of geshijoker/bloomz-560-prefix-tuning): "983,040 || all params: 560,197,632"
    "bloomz-560m": bloom("bloomz-560m", 1024, 24, 16, source="HF bigscience/bloomz-560m: 559,214,592"),
    # 222,903,552: google-t5/t5-base (T5ForConditionalGeneration, shared embedding counted once)
    "t5-base": t5("t5-base", 768, 12, 12, 3072, source="HF t5-base: 222,903,552"),
    # 6,738,415,616: huggy-llama/llama-7b; print_trainable_parameters prints it as "all params"
    "llama-7b": llama("llama-7b", 4096, 32, 32, 11008, 32000, 2048, source="HF llama-7b: 6,738,415,616"),
    # 65,285,660,672: huggy-llama/llama-65b (LLaMA paper, Table 2: 65.2B)
    "llama-65b": llama("llama-65b", 8192, 80, 64, 22016, 32000, 2048, source="HF llama-65b: 65,285,660,672"),
    # 13,015,864,320: meta-llama/Llama-2-13b-hf
    "llama-2-13b": llama("llama-2-13b", 5120, 40, 40, 13824, 32000, source="HF Llama-2-13b-hf: 13,015,864,320"),
    # 68,976,648,192: meta-llama/Llama-2-70b-hf; grouped-query attention, 8 key/value heads
    "llama-2-70b": llama("llama-2-70b", 8192, 80, 64, 28672, 32000, n_kv_heads=8,
                         source="HF Llama-2-70b-hf: 68,976,648,192"),
    # 1,235,814,400: meta-llama/Llama-3.2-1B (model card: 1.23B); tied embeddings, 8 KV heads
    "llama-3.2-1b": llama("llama-3.2-1b", 2048, 16, 32, 8192, 128256, 131072, n_kv_heads=8, tied=True,
                          source="HF Llama-3.2-1B: 1,235,814,400"),
    # 3,085,938,688: Qwen/Qwen2.5-3B (model card: 3.09B, 2.77B non-embedding); q/k/v biases, tied
    "qwen2.5-3b": llama("qwen2.5-3b", 2048, 36, 16, 11008, 151936, 32768, n_kv_heads=2, tied=True, qkv_bias=True,
                        source="HF Qwen2.5-3B: 3,085,938,688"),
    # 1,850,112 (LM head): peft_lab.TinyTransformer(ModelConfig()), checked against the module itself
    "tiny": tiny(),
}


def get(arch) -> Architecture:
    """An ``Architecture`` from itself or from a preset name."""
    if isinstance(arch, Architecture):
        return arch
    if isinstance(arch, str):
        if arch not in PRESETS:
            raise ValueError(f"unknown architecture preset {arch!r}; presets: {sorted(PRESETS)} "
                             f"(or build one with budget.Architecture / budget.presets.llama(...))")
        return PRESETS[arch]
    raise TypeError(f"arch must be a preset name or a budget.Architecture, got {type(arch).__name__}")
