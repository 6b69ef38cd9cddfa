"""TinyTransformer: a pre-LN, character-level transformer small enough to train on a laptop CPU.

Module names follow LLaMA / HF models (``q_proj``, ``k_proj``, ``v_proj``, ``o_proj``,
``up_proj``, ``down_proj``) so that a PEFT ``target_modules`` list written here carries over.

Soft-prompt methods plug into one slot, ``model.soft_prompt``: a module that returns
``VirtualTokens`` -- vectors prepended to the input embeddings (prompt tuning, P-Tuning) and/or
key/value vectors prepended inside every attention layer (prefix tuning, P-Tuning v2).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from .checks import check_positive_int

HEADS = ("lm", "cls", "token")


@dataclass
class ModelConfig:
    vocab_size: int = 4000
    d_model: int = 128       # width; every projection in the block is d_model -> d_model
    n_layers: int = 4
    n_heads: int = 4         # head size d_model / n_heads = 32
    d_ff: int = 512          # FFN hidden size, the usual 4 x d_model
    max_len: int = 256       # context window, virtual tokens included
    dropout: float = 0.1     # on the embeddings and on each sublayer's output before the residual add
    # on the attention probabilities softmax(QK^T / sqrt(d_h)), training only; None = the same as
    # ``dropout``, as before it was a field of its own (so ModelConfig(dropout=0.0) still means no dropout)
    attention_dropout: float | None = None
    head: str = "lm"         # "lm" next-character logits, "cls" one label per text, "token" per character
    num_labels: int = 2      # classes of the cls/token head (ignored by "lm")
    causal: bool = True      # causal (left-to-right) attention; False = bidirectional

    def __post_init__(self):
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_len", "num_labels"):
            check_positive_int(name, getattr(self, name))
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads={self.n_heads} must divide d_model={self.d_model} "
                             f"(allowed: {[h for h in range(1, self.d_model + 1) if self.d_model % h == 0]})")
        probabilities = {"dropout": "", "attention_dropout": " or None (the same as dropout)"}
        for name, alternative in probabilities.items():
            value = getattr(self, name)
            if value is None and alternative:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"{name}={value!r} must be in [0, 1){alternative}")
        if self.head not in HEADS:
            raise ValueError(f"head={self.head!r} is not one of {HEADS}")

    @property
    def attention_p(self) -> float:
        """The dropout probability on attention weights in effect."""
        return self.dropout if self.attention_dropout is None else self.attention_dropout

    def to_dict(self) -> dict:
        return asdict(self)


class VirtualTokens(NamedTuple):
    """What a soft-prompt method adds. Batch dimension 1 broadcasts over the batch."""
    embeds: torch.Tensor | None = None   # (B|1, P, d_model), prepended to the token embeddings
    prefix: list | None = None           # per layer (key, value), each (B|1, P, d_model)

    @property
    def length(self) -> int:
        if self.embeds is not None:
            return self.embeds.shape[1]
        return self.prefix[0][0].shape[1] if self.prefix else 0


class Attention(nn.Module):
    """Multi-head attention softmax(QK^T / sqrt(d_h) + mask) V, with optional prefix keys/values.

    ``cfg.attention_p`` of the attention probabilities is dropped in training mode. On a CPU that
    dropout makes ``scaled_dot_product_attention`` fall back from its fused kernel to the unfused
    (math) one, so a training step is markedly slower with it than without (``python -m peft_lab.bench --attention``).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.q_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.k_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.v_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.o_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.attention_p

    def forward(self, x, mask, prefix=None):
        B, T, C = x.shape
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if prefix is not None:  # prefix tuning: P extra keys/values that every query can attend to
            pk, pv = prefix
            k = torch.cat([pk.expand(B, -1, -1), k], dim=1)
            v = torch.cat([pv.expand(B, -1, -1), v], dim=1)
        hs = C // self.n_heads
        q = q.view(B, T, self.n_heads, hs).transpose(1, 2)    # (B, nh, T, hs)
        k = k.view(B, -1, self.n_heads, hs).transpose(1, 2)   # (B, nh, P+T, hs)
        v = v.view(B, -1, self.n_heads, hs).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.up_proj = nn.Linear(cfg.d_model, cfg.d_ff)
        self.act = nn.GELU()
        self.down_proj = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x):
        return self.down_proj(self.act(self.up_proj(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn_norm = nn.LayerNorm(cfg.d_model)
        self.self_attn = Attention(cfg)
        self.ffn_norm = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, mask, prefix=None):
        x = x + self.drop(self.self_attn(self.attn_norm(x), mask, prefix))
        return x + self.drop(self.mlp(self.ffn_norm(x)))


class TinyTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.embed_positions = nn.Embedding(cfg.max_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = self._make_head(cfg)
        self.soft_prompt: nn.Module | None = None  # the slot soft-prompt methods fill
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _make_head(cfg: ModelConfig) -> nn.Linear:
        out = cfg.vocab_size if cfg.head == "lm" else cfg.num_labels
        return nn.Linear(cfg.d_model, out, bias=cfg.head != "lm")

    @staticmethod
    def _init_weights(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def replace_head(self, head: str, num_labels: int = 2, causal: bool | None = None) -> "TinyTransformer":
        """Swap the output head (a new, randomly initialised linear layer)."""
        cfg = ModelConfig(**{**self.config.to_dict(), "head": head, "num_labels": num_labels,
                             "causal": self.config.causal if causal is None else causal})
        self.config = cfg
        self.head = self._make_head(cfg)
        self._init_weights(self.head)
        return self

    def virtual_tokens(self) -> VirtualTokens:
        return self.soft_prompt() if self.soft_prompt is not None else VirtualTokens()

    def _attention_mask(self, attention_mask, n_virtual: int, causal: bool):
        """Boolean (B, 1, T, P+T) mask, True = may attend. Virtual tokens are always visible."""
        B, T = attention_mask.shape
        keys = attention_mask.bool()
        if n_virtual:
            keys = torch.cat([keys.new_ones(B, n_virtual), keys], dim=1)
        mask = keys[:, None, None, :].expand(B, 1, T, n_virtual + T)
        if causal:
            future = torch.ones(T, T, dtype=torch.bool, device=keys.device).triu(1)
            future = F.pad(future, (n_virtual, 0))
            mask = mask & ~future
        # every query keeps at least itself, so no row is fully masked (no NaN on padding rows)
        itself = F.pad(torch.eye(T, dtype=torch.bool, device=keys.device), (n_virtual, 0))
        return mask | itself

    def hidden_states(self, input_ids, attention_mask=None):
        """Final (normed) hidden states of the real tokens, (B, T, d_model)."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
        B, T = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        virtual = self.virtual_tokens()
        L = virtual.length  # virtual tokens, as the soft-prompt methods call them
        if T + L > self.config.max_len:
            raise ValueError(f"sequence length {T} + {L} virtual tokens exceeds the model's "
                             f"max_len={self.config.max_len}; shorten the input or the prompt")
        pos = torch.arange(T, device=input_ids.device)  # real tokens keep positions 0..T-1
        x = self.embed_tokens(input_ids) + self.embed_positions(pos)
        if virtual.embeds is not None:  # prompt tuning: L vectors before the first token
            x = torch.cat([virtual.embeds.expand(B, -1, -1).to(x.dtype), x], dim=1)
        x = self.drop(x)
        n_prompt = 0 if virtual.embeds is None else L
        n_prefix = 0 if virtual.prefix is None else L
        full_mask = torch.cat([attention_mask.new_ones(B, n_prompt), attention_mask], dim=1)
        mask = self._attention_mask(full_mask, n_prefix, self.config.causal)
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, None if virtual.prefix is None else virtual.prefix[i])
        return self.norm(x[:, n_prompt:])

    def forward(self, input_ids, attention_mask=None):
        h = self.hidden_states(input_ids, attention_mask)
        if self.config.head == "cls":  # mean over real tokens
            m = (torch.ones_like(input_ids) if attention_mask is None else attention_mask).unsqueeze(-1).to(h.dtype)
            h = (h * m).sum(1) / m.sum(1).clamp(min=1)
        return self.head(h)

    @torch.no_grad()
    def generate(self, input_ids, max_new_tokens: int = 20, temperature: float = 0.0, generator=None):
        """Greedy (temperature 0) or sampled continuation with the causal LM head."""
        if self.config.head != "lm":
            raise ValueError(f"generate needs head='lm', this model has head={self.config.head!r}")
        was_training = self.training
        self.eval()
        ids = input_ids
        for _ in range(max_new_tokens):
            window = ids[:, -(self.config.max_len - self.virtual_tokens().length):]
            logits = self(window)[:, -1]
            if temperature > 0:
                probs = torch.softmax(logits / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)
            else:
                nxt = logits.argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
        self.train(was_training)
        return ids
