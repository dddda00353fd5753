"""The one decoder shared by Worker, Drafter, Judge and the toy teacher.

Design choices:
- Llama architecture: pre-norm RMSNorm, SwiGLU MLP of `intermediate_size` (no implied 4x), grouped-query
  attention (`n_kv_heads` divides `n_heads`), no biases, untied LM head unless the config ties it.
- Module names are Hugging Face Llama's (`model.layers.N.self_attn.q_proj`, ...), so the state dict is
  a `LlamaForCausalLM` checkpoint with no renaming, and `AutoModelForCausalLM` loads our artifacts.
- RoPE by absolute position, rotate-half layout, from a table computed once for `max_seq_len`
  positions and indexed by `input_pos`; the angle of a token never depends on the sequence length,
  so prefill, decode and training agree. Optional linear or Llama-3 frequency scaling.
- Causal mask by absolute position plus an optional padding mask (`attention_mask` [B, S], 1 = real),
  so left- or right-padded batches give each row the logits it would get alone.
- KV cache `[B, Hkv, S, Dh]` per layer, written at `input_pos`. Nothing is ever rolled back: a rejected
  speculative token is overwritten by the next write, and the causal mask hides every slot beyond the
  current position. For batched serving, `input_pos` may be [B, T] (each row at its own positions) and
  `cache_row0` picks the cache rows a call reads and writes, so unequal requests decode together;
  `cache_len` limits attention to the first cache slots (decode cost follows the live context, not the
  allocated one).
- Judge heads (optional): a score (1) and CAWS clause logits (5) read from the last real token's final
  hidden state, stored as `judge_heads.*` keys beside the LM weights (transformers ignores them).
- Ragged training batches (`Ragged`): the sequences of a batch laid end to end in one row, without padding,
  each attending within itself (one attention call per sequence); training computes only the tokens a
  target needs (training/ragged.py).
- Export-friendly: plain tensor ops, SDPA with an explicit additive mask (built once per forward from the
  boolean one), no data-dependent Python control flow in forward (only `is None` checks on arguments
  and modules). The layer hands attention to its cache (`CacheAttention.attend`), so an export can keep
  K/V in graph inputs and attend without writing them (conversion/graphs.py).
- Decode calls are mostly dispatch overhead at toy size (a few hundred ops on d-128 tensors), so the hot
  path avoids ops it can: rotate-half is one matmul, the cache write one scatter per tensor.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modeling.config import N_CLAUSES, LinearRopeScaling, Llama3RopeScaling, ModelConfig, load_role_config
from modeling.precision import attention_dtype

Rope = tuple[Tensor, Tensor, Tensor]  # cos, sin at the tokens' positions, and rotate_half_matrix


def _linear_scaling(inv_freq: Tensor, s: LinearRopeScaling) -> Tensor:
    return inv_freq / s.factor


def _llama3_scaling(inv_freq: Tensor, s: Llama3RopeScaling) -> Tensor:
    # Same arithmetic as transformers' `_compute_llama3_parameters`, so HF logits match ours.
    low_wavelen = s.original_max_position_embeddings / s.low_freq_factor
    high_wavelen = s.original_max_position_embeddings / s.high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_wavelen, inv_freq / s.factor, inv_freq)
    smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) / (
        s.high_freq_factor - s.low_freq_factor
    )
    smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled
    is_medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(is_medium, smoothed, scaled)


ROPE_SCALINGS = {"linear": _linear_scaling, "llama3": _llama3_scaling}


def rope_tables(config: ModelConfig) -> tuple[Tensor, Tensor]:
    """cos and sin, each [max_seq_len, d_head] (fp32), for every absolute position."""
    dim = config.d_head
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    if config.rope_scaling is not None:
        inv_freq = ROPE_SCALINGS[config.rope_scaling.type](inv_freq, config.rope_scaling)
    pos = torch.arange(config.max_seq_len, dtype=torch.float32)
    freqs = torch.outer(pos, inv_freq)  # [S, Dh/2]
    emb = torch.cat((freqs, freqs), dim=-1)  # rotate-half layout: both halves share the angles
    return emb.cos(), emb.sin()


def rotate_half_matrix(d_head: int) -> Tensor:
    """[Dh, Dh] with x @ R == cat(-x[Dh/2:], x[:Dh/2]) exactly (each output is one input, signed, plus
    zeros): rotate-half as one matmul instead of two slices, a negation and a concatenation."""
    half = d_head // 2
    rot = torch.zeros(d_head, d_head)
    idx = torch.arange(half)
    rot[idx + half, idx] = -1.0
    rot[idx, idx + half] = 1.0
    return rot


def rows_at(x: Tensor, index: Tensor) -> Tensor:
    """x [B, T, ...] at per-row indexes [B, Q] -> [B, Q, ...]."""
    return x[torch.arange(x.shape[0], device=x.device)[:, None], index]


def _rope_at(table: Tensor, index: Tensor) -> Tensor:
    """cos or sin at query indexes [B, Q] -> [B, 1, Q, Dh]; the table is [T, Dh] (shared positions) or
    [B, 1, T, Dh] (per-row positions)."""
    return (table[index] if table.dim() == 2 else rows_at(table[:, 0], index))[:, None]


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor, rotate: Tensor) -> Tensor:
    """x [B, H, T, Dh]; cos, sin [T, Dh] (or [B, 1, T, Dh]) in x's dtype; rotate = rotate_half_matrix."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)  # no-ops but under autocast (x bf16, tables fp32)
    return x * cos + (x @ rotate) * sin


# Added to the scores a query may not see: exp() of it is exactly 0 in fp32, bf16 and fp16 alike (scores
# are far smaller), and unlike a dtype's minimum or -inf it stays finite when an fp16 program (Core ML)
# adds it to a negative score; coremltools turns boolean masks into the same value.
MASKED = -3.0e4


def attention_bias(mask: Tensor, n_rep: int, dtype: torch.dtype) -> Tensor:
    """Boolean mask [B|1, 1, T, S] (True = may attend) -> the additive bias `grouped_attention` takes:
    [B|1, 1, n_rep * T, S], 0 where seen and MASKED elsewhere, repeated for the n_rep query heads stacked
    on each KV head. Built once per forward and shared by every layer (SDPA would otherwise turn a boolean
    mask into a bias, and repeat it, in each layer)."""
    bias = torch.where(mask, 0.0, MASKED).to(dtype)
    return bias.repeat(1, 1, n_rep, 1) if n_rep > 1 else bias


def grouped_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> Tensor:
    """Grouped-query attention without copying K/V: q [B, H, T, Dh], k and v [B, Hkv, S, Dh], bias
    [B|1, 1, (H / Hkv) * T, S] from `attention_bias` -> [B, T, H * Dh], the heads side by side (o_proj's
    input).

    Query head h reads KV head h // (H / Hkv) (HF's `repeat_kv` layout). Instead of expanding K and V to H
    heads (a copy of the whole attended cache on every decode step), the H / Hkv query heads of each KV
    head are stacked along the query axis, [B, Hkv, rep * T, Dh] (the bias is built repeated to match):
    one attention over the shared K/V, plain reshapes only, so exporters see ordinary ops.

    Runs in `attention_dtype(q.dtype)` (bf16 autocast on a CPU attends in fp32) and returns
    q's dtype."""
    dtype = attention_dtype(q.dtype, q.device)
    if dtype != q.dtype:
        with torch.autocast(q.device.type, enabled=False):  # autocast would cast SDPA's inputs back
            return grouped_attention(q.to(dtype), k.to(dtype), v.to(dtype), bias).to(q.dtype)
    b, n_heads, t, d = q.shape
    n_kv = k.shape[1]
    bias = bias.to(q.dtype)  # autocast runs the projections in bf16
    if n_heads == n_kv:
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return y.transpose(1, 2).reshape(b, t, n_heads * d)
    rep = n_heads // n_kv
    # row r * T + t of group j is query head j * rep + r at token t (contiguous first, and the output split
    # rather than viewed back: views of these layouts leave torch.export guards on a symbolic length)
    q = q.contiguous().view(b, n_kv, rep * t, d)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    return y.unflatten(2, (rep, t)).permute(0, 3, 1, 2, 4).reshape(b, t, n_heads * d)


@dataclass(frozen=True)
class Ragged:
    """Sequences laid end to end in one row of ids ([1, N]), none attending to another: a training batch
    without padding. `bounds[i]` is (start, end) of sequence i in the row (together they cover it, in
    order); `masks[i]` is its own attention mask (bool [L, L], True = may attend) where it is not
    causal (a parallel drafter's), else None. `prefixes[i]` (derived) is how many of a masked sequence's
    leading tokens attend exactly causally among themselves and to nothing after them (a parallel
    drafter's real tokens, before its pads): those attend in a causal call of their own, which skips the
    half of the scores a mask would compute and discard."""

    bounds: tuple[tuple[int, int], ...]
    masks: tuple[Tensor | None, ...]
    prefixes: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefixes", tuple(0 if m is None else causal_prefix(m) for m in self.masks))


def causal_prefix(mask: Tensor) -> int:
    """The number of leading rows of a square boolean mask that are causal rows (row i sees keys 0..i
    and nothing else)."""
    rows = mask.cpu().numpy()  # numpy: 4x torch's bool ops at this size (505 x 505: 83 us against 341)
    causal = (rows == np.tri(rows.shape[0], dtype=bool)).all(axis=1)
    return int(rows.shape[0] if causal.all() else causal.argmin())


# One attention call of a ragged layer: queries q0:q1 attend keys k0:k1 under a bias (attention_bias), or
# causally (None: the queries are the keys, or there are none and the sequence is skipped). k0 is the
# start of the call's sequence (which ends where the next one starts); several calls of one sequence share
# it (a parallel drafter's causal prefix, then its other tokens).
Segment = tuple[int, int, int, int, Tensor | None]


def ragged_attention(q: Tensor, k: Tensor, v: Tensor, segments: list[Segment]) -> Tensor:
    """grouped_attention per call of a ragged row: q [1, H, Q, Dh], k and v [1, Hkv, N, Dh] -> [1, Q,
    H * Dh]; the segments' query ranges cover 0..Q in order, and every sequence of the row has at least
    one (a call without queries is skipped). Split by sequence, not sliced: a slice's backward writes a
    zero gradient of the whole row, once per sequence (with 32 sequences that was a third of a judge
    step); a call on the first keys of its sequence slices the sequence's own keys. Cast once for the
    whole row where attention runs in another dtype than q's (`grouped_attention`)."""
    dtype = attention_dtype(q.dtype, q.device)
    if dtype != q.dtype:
        with torch.autocast(q.device.type, enabled=False):
            return ragged_attention(q.to(dtype), k.to(dtype), v.to(dtype), segments).to(q.dtype)
    starts = list(dict.fromkeys(k0 for _, _, k0, _, _ in segments))  # each sequence's, in order
    ends = dict(zip(starts, [*starts[1:], k.shape[2]], strict=True))
    sizes = [ends[start] - start for start in starts]
    keys = dict(zip(starts, k.split(sizes, dim=2), strict=True))
    values = dict(zip(starts, v.split(sizes, dim=2), strict=True))
    queries = q.split([q1 - q0 for q0, q1, *_ in segments], dim=2)
    out = []
    for qs, (q0, q1, k0, k1, bias) in zip(queries, segments, strict=True):
        if q1 == q0:
            continue
        ks, vs = keys[k0], values[k0]
        if k1 < ends[k0]:
            ks, vs = ks[:, :, : k1 - k0], vs[:, :, : k1 - k0]
        if bias is None:
            y = F.scaled_dot_product_attention(qs, ks, vs, is_causal=True, enable_gqa=True)
            out.append(y.transpose(1, 2).reshape(1, q1 - q0, -1))
        else:
            out.append(grouped_attention(qs, ks, vs, bias))
    return torch.cat(out, dim=1)


class CacheAttention(Protocol):
    """What a layer's attention needs from its KV cache: `attend` writes (or otherwise takes in) the new
    K/V and attends q over the cached slots plus them. The torch cache and the Core ML state write, then
    attend (`write_then_attend`); an export's cache held in graph inputs attends without writing
    (conversion/graphs.py)."""

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor, input_pos: Tensor, row0: int = 0,
        kv_len: int | None = None,
    ) -> Tensor:
        """q [B, H, T, Dh]; the new k, v [B, Hkv, T, Dh] at input_pos; bias from attention_bias over the
        attended slots -> [B, T, H * Dh]."""
        ...


def write_then_attend(
    update: Callable[..., tuple[Tensor, Tensor]], q: Tensor, k: Tensor, v: Tensor, bias: Tensor,
    input_pos: Tensor, row0: int = 0, kv_len: int | None = None,
) -> Tensor:
    """`attend` for a cache that writes in place: `update` returns the slots to attend, new K/V included."""
    k, v = update(input_pos, k, v, row0, kv_len)
    return grouped_attention(q, k, v, bias)


class KVCache(nn.Module):
    def __init__(self, max_batch_size: int, max_seq_len: int, n_kv_heads: int, d_head: int, dtype: torch.dtype):
        super().__init__()
        shape = (max_batch_size, n_kv_heads, max_seq_len, d_head)
        self.register_buffer("k_cache", torch.zeros(shape, dtype=dtype), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape, dtype=dtype), persistent=False)

    def update(
        self, input_pos: Tensor, k: Tensor, v: Tensor, row0: int = 0, kv_len: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """Write k, v [B, Hkv, T, Dh] at absolute positions input_pos ([T], or [B, T] per row) into cache
        rows row0 .. row0+B-1; return those rows' first kv_len slots (all slots by default)."""
        rows = slice(row0, row0 + k.shape[0])
        k_rows, v_rows = self.k_cache[rows], self.v_cache[rows]  # views: writes land in the buffers
        # scatter along the slot axis: one kernel, where indexed assignment builds index tensors per call
        pos = input_pos if input_pos.dim() == 2 else input_pos.expand(k.shape[0], -1)
        index = pos[:, None, :, None].expand(-1, k.shape[1], -1, k.shape[3])
        k_rows.scatter_(2, index, k)
        v_rows.scatter_(2, index, v)
        return k_rows[:, :, :kv_len], v_rows[:, :, :kv_len]

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor, input_pos: Tensor, row0: int = 0,
        kv_len: int | None = None,
    ) -> Tensor:
        return write_then_attend(self.update, q, k, v, bias, input_pos, row0, kv_len)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        # Normalise in fp32 whatever the activation dtype (as HF Llama does), scale in the input dtype.
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


class Attention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.d_head = config.n_heads, config.n_kv_heads, config.d_head
        self.q_proj = nn.Linear(config.d_model, config.n_heads * config.d_head, bias=False)
        self.k_proj = nn.Linear(config.d_model, config.n_kv_heads * config.d_head, bias=False)
        self.v_proj = nn.Linear(config.d_model, config.n_kv_heads * config.d_head, bias=False)
        self.o_proj = nn.Linear(config.n_heads * config.d_head, config.d_model, bias=False)
        self.kv_cache: CacheAttention | None = None

    def forward(
        self, x: Tensor, rope: Rope, bias: Tensor | list[Segment], input_pos: Tensor, row0: int = 0,
        kv_len: int | None = None, query_at: Tensor | None = None,
    ) -> Tensor:
        """Attention output [B, T, D] under `bias` (attention_bias, or a ragged row's segments); with
        `query_at` ([B, Q] indexes into T, no cache) only row b's queries at query_at[b] attend, under a bias
        for those queries ([B, 1, rep * Q, S], or segments), while keys and values still come from all T
        tokens: [B, Q, D]."""
        b, t, _ = x.shape
        cos, sin, rotate = rope
        k = self.k_proj(x).view(b, t, self.n_kv_heads, self.d_head).transpose(1, 2)  # [B, Hkv, T, Dh]
        v = self.v_proj(x).view(b, t, self.n_kv_heads, self.d_head).transpose(1, 2)
        k = apply_rope(k, cos, sin, rotate)
        if query_at is not None:
            x, cos, sin = rows_at(x, query_at), _rope_at(cos, query_at), _rope_at(sin, query_at)
            t = query_at.shape[1]
        q = self.q_proj(x).view(b, t, self.n_heads, self.d_head).transpose(1, 2)  # [B, H, T, Dh]
        q = apply_rope(q, cos, sin, rotate)
        if self.kv_cache is not None:
            return self.o_proj(self.kv_cache.attend(q, k, v, bias, input_pos, row0, kv_len))
        if isinstance(bias, list):  # a ragged row's segments (Transformer._ragged_states)
            return self.o_proj(ragged_attention(q, k, v, bias))
        return self.o_proj(grouped_attention(q, k, v, bias))


class FeedForward(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.d_model, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.d_model, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class TransformerBlock(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(config.d_model, config.norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = FeedForward(config)

    def forward(
        self, x: Tensor, rope: Rope, bias: Tensor | list[Segment], input_pos: Tensor, row0: int = 0,
        kv_len: int | None = None, query_at: Tensor | None = None,
    ) -> Tensor:
        h = self.self_attn(self.input_layernorm(x), rope, bias, input_pos, row0, kv_len, query_at)
        if query_at is not None:  # the block's output at those tokens only: [B, Q, D]
            x = rows_at(x, query_at)
        x = x + h
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    """The `model.` prefix of HF Llama: embeddings, blocks, final norm."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)


class JudgeHeads(nn.Module):
    def __init__(self, d_model: int, entailment: bool = False):
        super().__init__()
        self.score = nn.Linear(d_model, 1)  # preference score (a logit; higher = better plea)
        self.clause = nn.Linear(d_model, N_CLAUSES)  # one logit per CAWS clause (multi-label)
        # support / contradict / insufficient logits for an (evidence, claim) input
        self.entail = nn.Linear(d_model, 3) if entailment else None


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.model = Decoder(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.tie_weights()
        self.judge_heads = JudgeHeads(config.d_model, config.entailment_head) if config.judge_heads else None
        cos, sin = rope_tables(config)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.register_buffer("rope_rotate", rotate_half_matrix(config.d_head), persistent=False)
        self.cache_batch_size, self.cache_seq_len = 0, 0
        self.apply(self._init_weights)

    @classmethod
    def from_name(cls, name_or_path: str | Path) -> Transformer:
        """Build (randomly initialised) from a role config name ('worker_toy') or YAML path."""
        return cls(load_role_config(name_or_path).model)

    @classmethod
    def empty(cls, config: ModelConfig, device: str | torch.device = "cpu") -> Transformer:
        """Uninitialised weights on `device`, for loading a checkpoint without paying for a random init."""
        with torch.device("meta"):
            model = cls(config)
        model = model.to_empty(device=device)
        model.tie_weights()  # to_empty gives each module its own tensor
        cos, sin = rope_tables(config)
        model.rope_cos, model.rope_sin = cos.to(device), sin.to(device)
        model.rope_rotate = rotate_half_matrix(config.d_head).to(device)
        return model

    def tie_weights(self) -> None:
        if self.config.tie_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # N(0, 0.02) as HF's `initializer_range`; norms start at 1 (their constructor), biases at 0.
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: matrices (and the embedding) decay; norm weights and biases do not."""
        params = list(self.parameters())  # distinct: a tied head appears once
        return [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]

    def setup_caches(self, max_batch_size: int, max_seq_len: int, dtype: torch.dtype | None = None) -> None:
        """Allocate per-layer KV caches; a no-op when the current ones are already big enough."""
        if max_seq_len > self.config.max_seq_len:
            raise ValueError(f"max_seq_len {max_seq_len} exceeds the model's {self.config.max_seq_len}")
        if self.cache_batch_size >= max_batch_size and self.cache_seq_len >= max_seq_len:
            return
        weight = self.model.embed_tokens.weight
        for layer in self.model.layers:
            cache = KVCache(
                max_batch_size, max_seq_len, self.config.n_kv_heads, self.config.d_head, dtype or weight.dtype
            )
            layer.self_attn.kv_cache = cache.to(weight.device)
        self.cache_batch_size, self.cache_seq_len = max_batch_size, max_seq_len

    def clear_caches(self) -> None:
        """Drop the KV caches; forward then attends within `idx` only (training, scoring)."""
        for layer in self.model.layers:
            layer.self_attn.kv_cache = None
        self.cache_batch_size, self.cache_seq_len = 0, 0

    def build_mask(self, input_pos: Tensor, padding: Tensor | None, cache_len: int | None = None) -> Tensor:
        """Boolean [B|1, 1, T, S]: query t may see key s (True).

        Keys are the cache slots 0..S-1 when caches are set up, else the T tokens of `idx`.
        `padding` [B, L] marks real keys with 1 (L <= S; keys beyond L count as real). Each query
        always sees itself, so a pad row never has an empty softmax (its output is unused).
        """
        if input_pos.dim() == 2:  # per-row positions [B, T] (batched decode of unequal sequences)
            return self._per_row_mask(input_pos, padding, cache_len or self.cache_seq_len)
        n_keys = cache_len or self.cache_seq_len
        key_pos = torch.arange(n_keys, device=input_pos.device) if self.cache_seq_len else input_pos
        causal = key_pos[None, :] <= input_pos[:, None]  # [T, S]
        if padding is None:
            return causal[None, None]
        if padding.shape[1] > key_pos.shape[0]:
            raise ValueError(f"attention_mask covers {padding.shape[1]} keys, only {key_pos.shape[0]} exist")
        real = padding.to(torch.bool)
        if padding.shape[1] < key_pos.shape[0]:  # shapes are static: no data-dependent branch
            real = torch.cat([real, real.new_ones(real.shape[0], key_pos.shape[0] - real.shape[1])], dim=1)
        own = key_pos[None, :] == input_pos[:, None]
        return causal[None, None] & (real[:, None, None, :] | own[None, None])

    def _per_row_mask(self, input_pos: Tensor, padding: Tensor | None, n_keys: int) -> Tensor:
        """[B, 1, T, S] for per-row positions [B, T] over the first n_keys cache slots (padding as in
        build_mask)."""
        key_pos = torch.arange(n_keys, device=input_pos.device)
        mask = key_pos[None, None, :] <= input_pos[:, :, None]  # [B, T, S]
        if padding is not None:
            real = torch.ones(padding.shape[0], n_keys, dtype=torch.bool, device=padding.device)
            real[:, : padding.shape[1]] = padding.to(torch.bool)
            mask = mask & (real[:, None, :] | (key_pos[None, None, :] == input_pos[:, :, None]))
        return mask[:, None]

    def _bias(self, mask: Tensor, dtype: torch.dtype) -> Tensor:
        """attention_bias in the dtype attention will run in: under autocast (bf16 training) the autocast
        dtype, not the fp32 embeddings' (a training batch's bias is [B, 1, rep * T, T]: converting it in
        every layer cost a parallel drafter's step 1-2 ms), or fp32 where bf16 attends in fp32
        (`attention_dtype`)."""
        device = mask.device.type
        if torch.is_autocast_enabled(device) and dtype == torch.float32:
            dtype = torch.get_autocast_dtype(device)
        dtype = attention_dtype(dtype, mask.device)
        return attention_bias(mask, self.config.n_heads // self.config.n_kv_heads, dtype)

    def hidden_states(
        self, idx: Tensor, input_pos: Tensor | None = None, attention_mask: Tensor | None = None, cache_row0: int = 0,
        cache_len: int | None = None, attn_mask: Tensor | None = None, query_at: Tensor | None = None,
        ragged: Ragged | None = None,
    ) -> Tensor:
        """idx [B, T] token ids at absolute positions input_pos [T] (default 0..T-1) -> [B, T, D] after
        the final norm. With caches set up, K/V are written at input_pos and read from the cache.

        `query_at` ([B, Q] indexes into T, no caches) asks for row b's states at query_at[b] only: [B, Q,
        D], equal to the full result gathered there. The last block then runs for those tokens only (its
        keys and values still come from every token): its other queries, attention outputs and MLP rows
        would feed nothing, and they are half of a two-layer model's forward.

        Batched serving: input_pos may be [B, T] (each row at its own positions; needs the caches), and
        `cache_row0` selects cache rows cache_row0 .. cache_row0+B-1 instead of 0 .. B-1, and `cache_len`
        attends over cache slots 0 .. cache_len-1 only (every position in input_pos must be below it).

        `attn_mask` (boolean [B|1, 1, T, T], no caches) says which of idx's own tokens each token sees, in
        place of the causal mask; with it input_pos may be [B, T] too. Training a parallel drafter needs
        it (training/parallel_draft.py): tokens that stand for unknown future ones, at their own
        positions, see the prefix they were drafted from and nothing after it.

        `ragged` (no caches, no masks) says idx [1, N] holds several sequences end to end (`Ragged`);
        input_pos [N] then gives each token its position within its own sequence."""
        if ragged is not None:
            return self._ragged_states(idx, input_pos, ragged, query_at)
        if input_pos is None:
            input_pos = torch.arange(idx.shape[1], device=idx.device)
        if attn_mask is not None:
            if self.cache_seq_len:
                raise ValueError("attn_mask is for a forward without KV caches (clear_caches first)")
            mask = attn_mask
        elif input_pos.dim() == 2 and not self.cache_seq_len:
            raise ValueError("per-row input_pos [B, T] needs the KV caches (setup_caches)")
        else:
            mask = self.build_mask(input_pos, attention_mask, cache_len)
        cos, sin = self.rope_cos[input_pos], self.rope_sin[input_pos]  # [T, Dh] or [B, T, Dh]
        if input_pos.dim() == 2:
            cos, sin = cos[:, None], sin[:, None]  # [B, 1, T, Dh]: broadcast over heads
        x = self.model.embed_tokens(idx)
        rope, bias = (cos, sin, self.rope_rotate), self._bias(mask, x.dtype)
        if query_at is None:
            for layer in self.model.layers:
                x = layer(x, rope, bias, input_pos, cache_row0, cache_len)
            return self.model.norm(x)
        if self.cache_seq_len:
            raise ValueError("query_at is for a forward without KV caches (clear_caches first)")
        *body, last = self.model.layers
        for layer in body:
            x = layer(x, rope, bias, input_pos)
        rows = rows_at(mask.expand(idx.shape[0], -1, -1, -1)[:, 0], query_at)[:, None]  # [B, 1, Q, S]
        return self.model.norm(last(x, rope, self._bias(rows, x.dtype), input_pos, query_at=query_at))

    def _ragged_states(self, idx: Tensor, input_pos: Tensor | None, ragged: Ragged, query_at: Tensor | None) -> Tensor:
        """hidden_states of a ragged row: every layer attends once per sequence."""
        n = idx.shape[1]
        if self.cache_seq_len or idx.shape[0] != 1 or input_pos is None or input_pos.shape != (n,):
            raise ValueError("a ragged row is idx [1, N] with input_pos [N], without KV caches")
        starts = [b for b, _ in ragged.bounds]
        if not ragged.bounds or starts[0] != 0 or ragged.bounds[-1][1] != n or any(
                e != s for (_, e), s in zip(ragged.bounds, starts[1:], strict=False)):
            raise ValueError(f"ragged bounds must cover the row's {n} tokens in order")
        x = self.model.embed_tokens(idx)
        rope = (self.rope_cos[input_pos], self.rope_sin[input_pos], self.rope_rotate)
        every = self._segments(ragged, None, x.dtype)
        *body, last = self.model.layers
        for layer in body if query_at is not None else self.model.layers:
            x = layer(x, rope, every, input_pos)
        if query_at is None:
            return self.model.norm(x)
        segments = self._segments(ragged, query_at[0], x.dtype)
        return self.model.norm(last(x, rope, segments, input_pos, query_at=query_at))

    def _segments(self, ragged: Ragged, queries: Tensor | None, dtype: torch.dtype) -> list[Segment]:
        """Per sequence, its attention calls: all its tokens as queries (`queries` None; causal ones need no
        bias), or those of the ascending token indexes `queries` that fall inside it. A masked sequence
        with a causal prefix (`Ragged.prefixes`) makes two calls: the prefix's queries over the prefix's
        keys, then the other queries over all its keys."""
        listed = queries.tolist() if queries is not None else None
        out: list[Segment] = []
        for (s, e), m, p in zip(ragged.bounds, ragged.masks, ragged.prefixes, strict=True):
            if listed is None:
                if m is None:
                    out.append((s, e, s, e, None))
                elif 0 < p < e - s:
                    out += [(s, s + p, s, s + p, None), (s + p, e, s, e, self._bias(m[None, None, p:], dtype))]
                else:
                    out.append((s, e, s, e, self._bias(m[None, None], dtype)))
                continue
            q0, q1 = bisect_left(listed, s), bisect_left(listed, e)
            if q0 == q1:  # no query here: its keys are still split off (ragged_attention)
                out.append((q0, q1, s, e, None))
                continue
            cut = bisect_left(listed, s + p, q0, q1) if m is not None and 0 < p < e - s else q0
            for a, b, k1 in ((q0, cut, s + p), (cut, q1, e)):
                if a == b:
                    continue
                rel = queries[a:b] - s
                key_at = torch.arange(k1 - s, device=rel.device)
                rows = m[rel][:, : k1 - s] if m is not None else key_at[None, :] <= rel[:, None]
                out.append((a, b, s, k1, self._bias(rows[None, None], dtype)))
        return out

    def forward(
        self, idx: Tensor, input_pos: Tensor | None = None, attention_mask: Tensor | None = None, cache_row0: int = 0,
        cache_len: int | None = None, logits_at: Tensor | None = None, attn_mask: Tensor | None = None,
        ragged: Ragged | None = None,
    ) -> Tensor:
        """Next-token logits [B, T, V] for idx [B, T]; see `hidden_states` for the arguments.

        `logits_at` (bool [B, T]) computes the logits only at those positions and returns them as
        [1, N, V] in row-major order (N = logits_at.sum()): training needs them only where a target
        is, and the head and its softmax would otherwise cost a third of a toy model's step. Without
        caches the last block also runs at those positions only (`hidden_states`' `query_at`)."""
        if logits_at is None:
            return self.lm_head(self.hidden_states(idx, input_pos, attention_mask, cache_row0, cache_len, attn_mask,
                                                   ragged=ragged))
        if not self.cache_seq_len:
            query_at, real = target_queries(logits_at)
            if ragged is not None:  # in token order, so that each sequence's queries are contiguous
                query_at, order = query_at.sort(dim=1)
                real = real.gather(1, order)
            if 0 < query_at.shape[1] < idx.shape[1]:
                h = self.hidden_states(idx, input_pos, attention_mask, attn_mask=attn_mask, query_at=query_at,
                                       ragged=ragged)
                return self.head_rows(h[real])
        return self.head_rows(self.hidden_states(idx, input_pos, attention_mask, cache_row0, cache_len, attn_mask,
                                                 ragged=ragged)[logits_at])

    def head_rows(self, h: Tensor) -> Tensor:
        """Logits [1, N, V] of states [N, D]; the head runs on N rounded up to a multiple of ROW_BUCKET (zero
        rows, dropped)."""
        n = h.shape[0]
        padded = F.pad(h, (0, 0, 0, bucket(n, ROW_BUCKET) - n))
        return self.lm_head(padded)[None, :n]

    def judge(self, idx: Tensor, attention_mask: Tensor | None = None, ragged: Ragged | None = None,
              input_pos: Tensor | None = None, last: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Score [B] and clause logits [B, 5] from the last real token of each row (no cache); of each
        sequence of a ragged row, see `last_states`."""
        if self.judge_heads is None:
            raise RuntimeError("this model has no judge heads (config.model.judge_heads is false)")
        pooled = self.last_states(idx, attention_mask, ragged, input_pos, last)
        return self.judge_heads.score(pooled).squeeze(-1), self.judge_heads.clause(pooled)

    def entailment(self, idx: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Support / contradict / insufficient logits [B, 3] from the last real token of each row."""
        if self.judge_heads is None or self.judge_heads.entail is None:
            raise RuntimeError("this model has no entailment head (config.model.entailment_head is false)")
        return self.judge_heads.entail(self.last_states(idx, attention_mask))

    def last_states(self, idx: Tensor, attention_mask: Tensor | None = None, ragged: Ragged | None = None,
                    input_pos: Tensor | None = None, last: Tensor | None = None) -> Tensor:
        """[B, D]: each row's final hidden state at its last real token, as
        `hidden_states(idx, attention_mask=...)[b, last]`, without caches; the last block runs for that
        token only (`hidden_states`' `query_at`). A ragged row (idx [1, N], input_pos [N]) gives [S, D] at
        `last` [S], the ascending indexes of its sequences' last real tokens."""
        if self.cache_seq_len:
            raise ValueError("last_states runs without KV caches (clear_caches first)")
        if ragged is not None:
            if last is None:
                raise ValueError("a ragged row's last_states needs `last`, each sequence's last real token")
            return self.hidden_states(idx, input_pos, query_at=last[None], ragged=ragged)[0]
        query_at = last_real_index(idx, attention_mask)[:, None]
        return self.hidden_states(idx, attention_mask=attention_mask, query_at=query_at)[:, 0]


# Training shapes are rounded up to these multiples (`bucket`): a bf16 matmul on a CPU (oneDNN) builds a kernel
# for every new shape, and batch widths and target counts change at every step. Rounded, a run sees a few
# dozen shapes; unrounded, an LM head forward and backward took 7-9 ms instead of 2 (N ~ 500, d 128).
ROW_BUCKET = 64  # rows of the LM head (head_rows)
QUERY_BUCKET = 16  # queries per row of the last block (target_queries)
WIDTH_BUCKET = 32  # tokens of a padded batch (training.sft_data.collate, the judge's batches, forced capture)


def bucket(n: int, size: int) -> int:
    """n rounded up to a multiple of size."""
    return -(-n // size) * size


def target_queries(at: Tensor) -> tuple[Tensor, Tensor]:
    """bool [B, T] -> (index [B, Q], real [B, Q]): row b's True positions in order, then other positions
    up to Q = the largest count rounded up to QUERY_BUCKET (at most T; their states are computed and
    dropped), and which entries are True ones. `states[real]` lists the selected states in the
    row-major order of `full_states[at]`."""
    counts = at.sum(dim=1)
    q = min(at.shape[1], bucket(int(counts.max()), QUERY_BUCKET)) if at.numel() else 0
    index = torch.argsort((~at).to(torch.uint8), dim=1, stable=True)[:, :q]  # True (0) first, in position order
    return index, torch.arange(q, device=at.device)[None, :] < counts[:, None]


def last_real_index(idx: Tensor, attention_mask: Tensor | None) -> Tensor:
    """[B] index of each row's last real token, for left or right padding (T-1 without a mask)."""
    b, t = idx.shape
    if attention_mask is None:
        return torch.full((b,), t - 1, dtype=torch.long, device=idx.device)
    positions = torch.arange(1, t + 1, device=idx.device)
    return (attention_mask.to(torch.long) * positions).argmax(dim=-1)
