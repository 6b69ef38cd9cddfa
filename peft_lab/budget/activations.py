"""Activation memory: the tensors autograd saves for the backward pass, counted op by op.

Why PEFT saves activation memory at all: an op saves only what its backward needs for the
gradients that are required. A linear layer ``y = x Wᵀ`` keeps its input x for W's gradient,
so a frozen linear keeps nothing (W itself is a weight, not an activation); a norm keeps its
input and statistics, GELU its input, ReLU its output, softmax its output, dropout its mask,
and attention its scaled queries and keys, the (dropped-out) probabilities and the values. A
tensor several ops read (a norm's output feeding q, k and v) is kept once. Whether an op runs
under autograd at all depends on whether anything before it requires a gradient: with LoRA
on q and v, the first block's frozen norm and k projection record nothing.

This module walks one pre-norm transformer block per layer with those rules. For
``peft_lab.TinyTransformer`` it reproduces ``peft_lab.measured_memory.SavedTensorMeter`` byte for byte
(``tests/test_budget_memory.py``). For other architectures it is an op-level estimate of the
same computation with eager attention; for full fine-tuning of a GPT-style block in 16 bits it
equals Korthikanti et al. (2022, "Reducing Activation Recomputation in Large Transformer
Models", section 4.1) ``s·b·h·(34 + 5·a·s/h)`` bytes per layer plus the norms' statistics.
Not modelled: linears outside the layers (BERT's pooler, OPT-350m's projections), post-LN
ordering (same sizes), P-Tuning's LSTM, HF's unfused RMSNorm (~3x a fused norm's saves).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .arch import Architecture
from .params import head_trains, method_of


@dataclass
class Plan:
    """What a method changes, in the terms activation memory cares about."""
    train_weights: bool = False          # every base weight trains (full fine-tuning)
    train_biases: bool = False           # every bias trains (BitFit; full fine-tuning)
    train_head: bool = False             # the output head / classifier trains
    per_linear: dict = field(default_factory=dict)   # (stack, name) -> [(layers, adaptation)]
    adapters: dict = field(default_factory=dict)     # (stack, name) -> [(layers, m)], name may be an ffn block
    adapter_act: str = "relu"
    lora_dropout: float = 0.0
    prompt: int = 0                      # virtual tokens prepended to the input
    prefix: int = 0                      # virtual keys / values prepended in every layer
    reparam_tokens: int = 0              # elements a reparameterisation MLP keeps: L h (prefix), 2 L h (P-Tuning)
    quantized: bool = False              # 4-bit frozen linear weights

    def linear(self, stack: int, name: str, layer: int):
        for layers, what in self.per_linear.get((stack, name), ()):
            if layer in layers:
                return what
        return None

    def adapter(self, stack: int, name: str, layer: int):
        for layers, m in self.adapters.get((stack, name), ()):
            if layer in layers:
                return m
        return None

    def adapt_linears(self, matches, adaptation) -> None:
        """Record ``adaptation`` (e.g. ("lora", r), ("ia3", "out")) on every linear ``matches`` selects."""
        for m in matches:
            self.per_linear.setdefault((m.stack, m.linear.name), []).append((set(m.layers), adaptation))

    def varies(self, stack: int, n_layers: int) -> bool:
        """Whether layers of this stack are adapted differently (targets that name layers)."""
        return any(key[0] == stack and len(layers) != n_layers
                   for table in (self.per_linear, self.adapters) for key, entries in table.items()
                   for layers, _ in entries)


def make_plan(arch: Architecture, config, num_labels) -> Plan:
    """The ``Plan`` of a method config (``None`` means full fine-tuning): the head from here, the
    rest from the method itself (``plan_activations`` of its config)."""
    method = "full" if config is None else method_of(config)
    plan = Plan(train_head=method in ("full", "head_only") or (num_labels is not None and head_trains(arch, method)))
    if config is None:
        plan.train_weights = plan.train_biases = True
    else:
        config.plan_activations(arch, plan)
    return plan


@dataclass
class Walk:
    """One forward pass's sizes and the bytes saved so far."""
    arch: Architecture
    plan: Plan
    b: int                  # batch size
    a: float                # bytes per activation element
    mask: float             # bytes per dropout-mask element (1 on GPUs, the dtype's on CPUs)
    dropout: float
    attention_dropout: float
    flash: bool             # fused attention: keeps q, k, v, output and log-sum-exp only
    saves_dequantized: bool  # a 4-bit linear keeps its dequantised weight (peft_lab's NF4Linear)
    enc_grad: bool = False   # the encoder output requires grad (decoder cross-attention reads it)
    enc_saved: bool = False  # ... and is already kept

    def linears(self, stack: int, layer: int, x_grad: bool, tokens: int, members) -> tuple[float, bool, dict]:
        """Linears reading one tensor x (``tokens`` rows): the bytes they save besides x, whether one
        of them keeps x (counted once by the caller), and which outputs require a gradient."""
        p, a, saved, need_x, grads = self.plan, self.a, 0.0, False, {}
        for lin in members:
            what = p.linear(stack, lin.name, layer)
            k, d = lin.in_features, lin.out_features
            need_x |= p.train_weights                                # W's gradient needs x
            grads[lin.role] = x_grad or p.train_weights or (p.train_biases and lin.bias) or what is not None
            if p.quantized and self.saves_dequantized and x_grad and not (what and what[0] == "ia3"):
                saved += d * k * a                                   # x's gradient reads the dequantised W
            if what is None:
                continue
            kind, arg = what
            if kind == "ia3":   # l ⊙ (W x) keeps W x;  W (l ⊙ x) keeps x
                saved += tokens * d * a if arg == "out" else 0
                need_x |= arg == "in"
                continue
            if p.lora_dropout > 0:   # dropout(x) is a new tensor: its mask (when x needs grad) and itself
                saved += tokens * k * (a + (self.mask if x_grad else 0))
            else:
                need_x = True                                         # A's gradient needs x
            saved += tokens * arg * a * (2 if kind == "adalora" else 1)   # x Aᵀ (AdaLoRA: x Qᵀ and x Qᵀ Λ)
            if kind == "dora":   # base and LoRA outputs it rescales; ‖W‖, m/‖W‖ (and m/‖W‖ - 1 if x needs grad)
                saved += 2 * tokens * d * a + (3 if x_grad else 2) * d * a
        return saved, need_x, grads

    def norm(self, x_grad: bool, tokens: int) -> tuple[float, bool]:
        """A norm keeps its input and per-token fp32 statistics (LayerNorm: mean, rstd; RMSNorm: rstd)."""
        if not (x_grad or self.plan.train_weights or self.plan.train_biases):
            return 0.0, False
        stats = 2 if self.arch.norm == "layernorm" else 1
        return tokens * (self.arch.d_model * self.a + 4 * stats), True

    def adapter(self, m, width: int, tokens: int, input_saved: bool) -> float:
        """A bottleneck adapter keeps its input and its hidden activation (ReLU once, GELU/SiLU twice)."""
        if m is None:
            return 0.0
        hidden = 1 if self.plan.adapter_act == "relu" else 2
        return tokens * (0 if input_saved else width * self.a) + hidden * tokens * m * self.a

    def residual_dropout(self, grad: bool, tokens: int) -> float:
        return tokens * self.arch.d_model * self.mask if grad and self.dropout > 0 else 0.0

    def core(self, gq: bool, gk: bool, gv: bool, s: int, kv_len: int) -> tuple[float, bool]:
        """Scaled-dot-product attention, eager (scores materialised) or flash."""
        b, a, arch = self.b, self.a, self.arch
        width, heads = arch.n_heads * arch.hd, arch.n_heads   # eager GQA repeats k, v to every head
        if not (gq or gk or gv):
            return 0.0, False
        if self.flash:   # q, k, v, the output and a log-sum-exp per query and head
            return b * ((2 * s + 2 * kv_len) * width * a + heads * s * 4), True
        probs = b * heads * s * kv_len
        saved = (b * s * width * a if gk else 0) + (b * kv_len * width * a if gq else 0)   # scaled q for k, k for q
        if gq or gk:   # softmax output, its dropout mask, the values
            saved += probs * a + b * kv_len * width * a
            saved += probs * self.mask if self.attention_dropout > 0 else 0
        if gv and (self.attention_dropout > 0 or not (gq or gk)):   # the probabilities the value matmul reads
            saved += probs * a
        return saved, True

    def attention(self, stack: int, layer: int, g: bool, s: int, cross: bool) -> tuple[float, bool]:
        """[norm, q k v, attention, o, adapter, dropout] of one (self- or cross-) attention sublayer."""
        st, tokens, r = self.arch.stacks[stack], self.b * s, "cross_" if cross else ""
        by_role = {l.role: l for l in st.linears}
        saved, h_grad = self.norm(g, tokens)
        if cross:   # keys and values come from the encoder output, one tensor every layer reads
            members = [by_role["cross_q"]]
            kv_saved, keep_enc, grads = self.linears(stack, layer, self.enc_grad, tokens,
                                                     [by_role["cross_k"], by_role["cross_v"]])
            saved += kv_saved + (tokens * self.arch.d_model * self.a if keep_enc and not self.enc_saved else 0)
            self.enc_saved |= keep_enc
        else:
            members, grads = [by_role[x] for x in ("q", "k", "v", "qkv") if x in by_role], {}
        q_saved, keep_h, q_grads = self.linears(stack, layer, h_grad, tokens, members)
        grads.update(q_grads)
        if "qkv" in grads:
            grads.update(q=grads["qkv"], k=grads["qkv"], v=grads["qkv"])
        prefix = self.plan.prefix > 0 and not cross     # prefix keys / values are trainable in every layer
        saved_core, y_grad = self.core(grads[r + "q"], grads[r + "k"] or prefix, grads[r + "v"] or prefix,
                                       s, s if cross else s + self.plan.prefix)
        o = by_role[r + "o"]
        o_saved, keep_y, o_grads = self.linears(stack, layer, y_grad, tokens, [o])
        m = self.plan.adapter(stack, o.name, layer)
        out_grad = o_grads[o.role] or m is not None
        saved += (q_saved + (tokens * self.arch.d_model * self.a if keep_h else 0) + saved_core + o_saved
                  + (tokens * o.in_features * self.a if keep_y else 0) + self.adapter(m, o.out_features, tokens, False))
        return saved + self.residual_dropout(out_grad, tokens), out_grad

    def ffn(self, stack: int, layer: int, g: bool, s: int) -> tuple[float, bool]:
        """[norm, up (gate), activation, down, adapters, dropout] of one FFN sublayer."""
        arch, a, tokens = self.arch, self.a, self.b * s
        st = arch.stacks[stack]
        by_role = {l.role: l for l in st.linears}
        gate, up, down = by_role.get("gate"), by_role["up"], by_role["down"]
        saved, h_grad = self.norm(g, tokens)
        in_saved, keep_h, grads = self.linears(stack, layer, h_grad, tokens, [l for l in (gate, up) if l])
        parallel = self.plan.adapter(stack, st.ffn_block, layer)
        saved += in_saved + (tokens * arch.d_model * a if keep_h else 0) + self.adapter(parallel, arch.d_model, tokens, keep_h)
        ff, g_up, g_gate = up.out_features, grads["up"], grads.get("gate", False)
        if arch.ffn == "swiglu":   # silu(gate) keeps gate; silu(gate) * up keeps both factors
            saved += tokens * ff * a * (2 * g_gate + g_up)
        else:                      # GELU keeps its input, ReLU its output
            saved += tokens * ff * a if g_up else 0
        act_grad = g_up or g_gate
        down_saved, keep_act, down_grads = self.linears(stack, layer, act_grad, tokens, [down])
        if keep_act and not (arch.ffn == "relu" and g_up):   # ReLU's output is down's input: kept once
            down_saved += tokens * ff * a
        m = self.plan.adapter(stack, down.name, layer)
        out_grad = down_grads["down"] or m is not None or parallel is not None
        saved += down_saved + self.adapter(m, down.out_features, tokens, False)
        return saved + self.residual_dropout(out_grad, tokens), out_grad

    def layer(self, stack: int, layer: int, g: bool, s: int) -> tuple[float, bool]:
        saved = 0.0
        for cross in (False, True) if self.arch.stacks[stack].cross_attention else (False,):
            part, out_grad = self.attention(stack, layer, g, s, cross)
            saved, g = saved + part, g or out_grad
        part, out_grad = self.ffn(stack, layer, g, s)
        return saved + part, g or out_grad


def stack_layers(walk: Walk, stack: int, g: bool, s: int, checkpointing: bool) -> tuple[float, bool]:
    """All layers of one stack; with checkpointing only each layer's input is kept, plus one
    layer's activations while it is recomputed in the backward pass."""
    st, memo, total, largest = walk.arch.stacks[stack], {}, 0.0, 0.0
    varies = walk.plan.varies(stack, st.n_layers)   # else identical layers differ only by g: memoise
    for j in range(st.n_layers):
        key = (g, walk.enc_saved)
        if varies:
            key += (tuple(walk.plan.linear(stack, l.name, j) for l in st.linears),
                    tuple(walk.plan.adapter(stack, n, j) for n in [l.name for l in st.linears] + [st.ffn_block]))
        if key not in memo:
            memo[key] = walk.layer(stack, j, g, s)
        saved, g = memo[key]
        total, largest = total + saved, max(largest, saved)
    if checkpointing:
        return st.n_layers * walk.b * s * walk.arch.d_model * walk.a + largest, g
    return total, g


def check_roles(arch: Architecture) -> None:
    """The walk needs to know which linear is which: q, k, v (or a fused qkv), o, up, down."""
    for st in arch.stacks:
        roles = {l.role for l in st.linears}
        need = [{"q", "k", "v"} if "qkv" not in roles else {"qkv"}, {"o", "up", "down"}]
        if st.cross_attention:
            need.append({"cross_q", "cross_k", "cross_v", "cross_o"})
        missing = sorted(set().union(*need) - roles)
        if missing:
            raise ValueError(f"training_memory needs the role of every linear layer; stack {st.prefix!r} of "
                             f"{arch.name} has no linear with role {missing} (Linear(..., role=...))")


def activation_bytes(walk: Walk, s: int, num_labels, checkpointing: bool, include_loss: bool) -> float:
    """Bytes saved for backward by one forward pass (and the loss, if asked) over b x s tokens."""
    arch, plan, b, a = walk.arch, walk.plan, walk.b, walk.a
    check_roles(arch)
    d, total = arch.d_model, plan.reparam_tokens * a
    for i, _ in enumerate(arch.stacks):
        g = plan.train_weights or plan.prompt > 0          # the embedding output needs a gradient
        seq = s + plan.prompt if i == 0 or num_labels is None else s   # T5 LM: a prompt per stack
        if plan.train_weights:                              # an embedding keeps the indices it looked up
            total += 8 * b * s + (8 * s if arch.learned_positions else 0)
        total += b * seq * d * walk.mask if g and walk.dropout > 0 else 0
        saved, g = stack_layers(walk, i, g, seq, checkpointing)
        norm, g = walk.norm(g, b * s)                       # the final norm, over the real tokens ...
        norm += b * plan.prompt * d * a if norm and i == 0 else 0   # ... of a tensor that holds the prompt too
        total += saved + norm
        walk.enc_grad = g
    if num_labels is None:                                  # LM head over every position
        total += b * s * d * a if plan.train_head else 0        # its input, for its weight's gradient
        loss = b * (s - 1) * (4 * arch.vocab_size + 8)      # log-softmax (fp32) and targets
    else:
        if arch.pooling == "mean":                          # the mask it multiplies by and the divisor
            total += (b * s + b) * a if g else 0
        reads = b * s * d if arch.pooling == "last" else b * d
        total += reads * a * (2 if arch.classifier_dense else 1)
        loss = b * (4 * num_labels + 8)
    return total + (loss if include_loss else 0)
