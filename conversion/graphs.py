"""Export views of a `Transformer`: prefill, decode and judge graphs with the KV cache as explicit tensors.

The model's attention calls `kv_cache.update(input_pos, k, v, row0, kv_len)` and attends over what it
returns. `ExplicitKV` implements that seam functionally: it writes the new K/V into a copy of the cache
tensor it was given (ONNX ScatterND) and remembers them as graph outputs. The exported graph is therefore
the model's own forward, masks and RoPE included; only where K/V live differs.

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

from modeling.model import Transformer


class ExplicitKV(nn.Module):
    """A KV cache held in graph inputs: `update` returns the input cache with k, v written at input_pos."""

    def __init__(self) -> None:
        super().__init__()
        self.k_in: Tensor | None = None
        self.v_in: Tensor | None = None
        self.k_new: Tensor | None = None
        self.v_new: Tensor | None = None

    def update(
        self, input_pos: Tensor, k: Tensor, v: Tensor, row0: int = 0, kv_len: int | None = None
    ) -> tuple[Tensor, Tensor]:
        self.k_new, self.v_new = k, v
        if self.k_in is None or self.v_in is None:  # prefill: attend within the new tokens
            return k, v
        rows = torch.arange(k.shape[0], device=k.device)[:, None]  # input_pos is [B, T]
        return _write(self.k_in, rows, input_pos, k), _write(self.v_in, rows, input_pos, v)


def _write(cache: Tensor, rows: Tensor, positions: Tensor, new: Tensor) -> Tensor:
    """cache [B, Hkv, S, Dh] with new [B, Hkv, T, Dh] at slots positions [B, T] (out of place)."""
    return cache.transpose(1, 2).index_put((rows, positions), new.transpose(1, 2)).transpose(1, 2)


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
