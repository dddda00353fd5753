"""Export views of a `Transformer`: prefill, decode and judge graphs with the KV cache as explicit tensors.

The model's attention hands q and the new K/V to its cache (`kv_cache.attend`, modeling/model.py).
`ExplicitKV` implements that seam functionally: the cache is a graph input, read but never written (the
decode graph attends over it and the new tokens at once, `window_and_new_attention`), and the new K/V are
graph outputs. The exported graph is therefore the model's own forward, masks and RoPE included; only
where K/V live, and so how attention reads them, differs.

Graphs (names in `io_names`):
    prefill  tokens [B, T] at positions 0..T-1 -> logits [B, V] (last position), new_k_i/new_v_i [B, Hkv, T, Dh]
    decode   tokens, positions [B, T], cache_k_i/cache_v_i [B, Hkv, S, Dh] (slots 0..S-1; positions < S)
             -> logits [B, T, V], new_k_i/new_v_i [B, Hkv, T, Dh]; the caller writes them at `positions`
    judge    input_ids, attention_mask [B, T] -> score [B], clause_logits [B, 5]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from modeling.model import Transformer, attention_bias, grouped_attention


class ExplicitKV(nn.Module):
    """A KV cache held in graph inputs. Prefill attends within the new tokens; decode attends over the
    input cache and the new tokens without writing them into it (`window_and_new_attention`). Either way
    the new K/V become graph outputs, for the caller to write at their positions."""

    def __init__(self) -> None:
        super().__init__()
        self.k_in: Tensor | None = None
        self.v_in: Tensor | None = None
        self.k_new: Tensor | None = None
        self.v_new: Tensor | None = None

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor, input_pos: Tensor, row0: int = 0,
        kv_len: int | None = None,
    ) -> Tensor:
        self.k_new, self.v_new = k, v
        if self.k_in is None or self.v_in is None:  # prefill
            return grouped_attention(q, k, v, bias)
        return window_and_new_attention(q, self.k_in, self.v_in, k, v, input_pos)


def window_and_new_attention(q: Tensor, k_win: Tensor, v_win: Tensor, k_new: Tensor, v_new: Tensor,
                             positions: Tensor) -> Tensor:
    """Attention of q [B, H, T, Dh] over a cache window k_win, v_win [B, Hkv, S, Dh] plus the new tokens'
    k_new, v_new [B, Hkv, T, Dh] at positions [B, T] (distinct within a row), as if the new K/V had been
    written into the window at their positions first (KVCache.update, then grouped_attention), without
    that write: an out-of-place write copies the whole window, per layer and per call, which at 8 rows
    cost as much as the attention itself. Query t of row b sees window slot s when s <= positions[b, t]
    and no new token sits at s, and new token t' when positions[b, t'] <= positions[b, t]; one softmax
    over both. -> [B, T, H * Dh]."""
    b, n_heads, t, d = q.shape
    n_kv, slots = k_win.shape[1], k_win.shape[2]
    rep = n_heads // n_kv
    slot = torch.arange(slots, device=q.device)[None, None, :]
    pos = positions[:, :, None]  # [B, T, 1]
    rewritten = (slot == pos).any(dim=1, keepdim=True)  # [B, 1, S]: slots the new tokens take over
    window = (slot <= pos) & ~rewritten  # [B, T, S]
    new = positions[:, None, :] <= pos  # [B, T, T]
    bias = attention_bias(torch.cat([window, new], dim=-1)[:, None], rep, q.dtype)  # [B, 1, rep * T, S + T]
    # the query heads of each KV head stacked along the query axis, as in grouped_attention
    qg = q.contiguous().view(b, n_kv, rep * t, d) * d**-0.5
    scores = torch.cat([qg @ k_win.transpose(-1, -2), qg @ k_new.transpose(-1, -2)], dim=-1) + bias
    p = scores.softmax(dim=-1)
    y = p[..., :slots] @ v_win + p[..., slots:] @ v_new  # [B, Hkv, rep * T, Dh]
    return y.unflatten(2, (rep, t)).permute(0, 3, 1, 2, 4).reshape(b, t, n_heads * d)


@contextmanager
def explicit_caches(model: Transformer, decode: bool) -> Iterator[list[ExplicitKV]]:
    """Swap the model's KV caches for `ExplicitKV`s while exporting; restore them afterwards."""
    layers = [layer.self_attn for layer in model.model.layers]
    saved = [attn.kv_cache for attn in layers], model.cache_batch_size, model.cache_seq_len
    caches = [ExplicitKV() for _ in layers]
    try:
        for attn, cache in zip(layers, caches, strict=True):
            attn.kv_cache = cache
        # A non-zero cache length makes the model mask over cache slots (the decode graph passes the
        # real count as cache_len); zero makes it attend within the tokens (prefill).
        model.cache_batch_size, model.cache_seq_len = (1, model.config.max_seq_len) if decode else (0, 0)
        yield caches
    finally:
        for attn, cache in zip(layers, saved[0], strict=True):
            attn.kv_cache = cache
        model.cache_batch_size, model.cache_seq_len = saved[1], saved[2]


def io_names(n_layers: int) -> dict[str, list[str]]:
    """Input and output names of each graph, in order (the contract's names)."""
    caches = [f"cache_{kv}_{i}" for i in range(n_layers) for kv in "kv"]
    new = [f"new_{kv}_{i}" for i in range(n_layers) for kv in "kv"]
    return {
        "prefill_inputs": ["tokens"],
        "prefill_outputs": ["logits", *new],
        "decode_inputs": ["tokens", "positions", *caches],
        "decode_outputs": ["logits", *new],
        "judge_inputs": ["input_ids", "attention_mask"],
        "judge_outputs": ["score", "clause_logits"],
    }


class PrefillGraph(nn.Module):
    def __init__(self, model: Transformer, caches: list[ExplicitKV]):
        super().__init__()
        self.model, self.caches = model, caches

    def forward(self, tokens: Tensor) -> tuple[Tensor, ...]:
        hidden = self.model.hidden_states(tokens)
        logits = self.model.lm_head(hidden[:, -1])
        return (logits, *_new_kv(self.caches))


class DecodeGraph(nn.Module):
    def __init__(self, model: Transformer, caches: list[ExplicitKV]):
        super().__init__()
        self.model, self.caches = model, caches

    def forward(self, tokens: Tensor, positions: Tensor, *cache_tensors: Tensor) -> tuple[Tensor, ...]:
        for i, cache in enumerate(self.caches):
            cache.k_in, cache.v_in = cache_tensors[2 * i], cache_tensors[2 * i + 1]
        logits = self.model(tokens, positions, cache_len=cache_tensors[0].shape[2])
        return (logits, *_new_kv(self.caches))


class JudgeGraph(nn.Module):
    def __init__(self, model: Transformer):
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.judge(input_ids, attention_mask)


def _new_kv(caches: list[ExplicitKV]) -> list[Tensor]:
    out: list[Tensor] = []
    for cache in caches:
        if cache.k_new is None or cache.v_new is None:
            raise RuntimeError("the model did not call its KV cache; cannot export its K/V")
        out += [cache.k_new, cache.v_new]
    return out
