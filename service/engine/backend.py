"""Model backends: a model plus a KV cache of independent rows, token ids in, logits out.

This is the whole interface another backend (onnxruntime, Core ML) has to implement:

    allocate(rows, seq_len)            reserve caches for `rows` sequences of up to `seq_len` tokens
    forward(tokens, positions, row0)   tokens/positions [B, T] (each row at its own absolute positions)
                                       -> logits [B, T, V] float32; reads and writes cache rows
                                       row0 .. row0+B-1. Slots at positions beyond a row's current
                                       one may hold stale K/V: they must be masked, never read.
    prefill(tokens, row0)              tokens [1, T] at positions 0..T-1 into cache row row0
                                       -> logits [1, V] of the last position only
    copy_row(src, dst)                 copy one row's cache (n > 1 prompts, compaction)
    release()                          no row holds a live sequence: caches may shrink (or stay)

The engine owns everything else: scheduling, sampling, speculation, grammars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from modeling.checkpoint import load_artifact
from modeling.model import Transformer

KV_BLOCK = 64  # cache slots attended in multiples of this


class Backend(Protocol):
    vocab_size: int
    max_seq_len: int

    def allocate(self, rows: int, seq_len: int) -> None: ...

    def forward(self, tokens: Tensor, positions: Tensor, row0: int = 0) -> Tensor: ...

    def prefill(self, tokens: Tensor, row0: int) -> Tensor: ...

    def copy_row(self, src: int, dst: int) -> None: ...

    def release(self) -> None: ...


class TorchBackend:
    """Our `Transformer` on the CPU (or any torch device), fp32 by default."""

    def __init__(self, model: Transformer):
        self.model = model.eval()
        self.vocab_size = model.config.vocab_size
        self.max_seq_len = model.config.max_seq_len
        self.seq_len = 0

    @classmethod
    def from_artifact(cls, path: str | Path, role: str | None = None) -> TorchBackend:
        model, _ = load_artifact(path, role=role)
        return cls(model)

    def allocate(self, rows: int, seq_len: int) -> None:
        self.model.setup_caches(rows, seq_len)
        self.seq_len = seq_len

    @torch.inference_mode()
    def forward(self, tokens: Tensor, positions: Tensor, row0: int = 0) -> Tensor:
        # Attend over the live prefix of the cache only, rounded up so few distinct shapes occur.
        live = -(-(int(positions.max()) + 1) // KV_BLOCK) * KV_BLOCK
        return self.model(tokens, positions, cache_row0=row0, cache_len=min(live, self.seq_len)).float()

    @torch.inference_mode()
    def prefill(self, tokens: Tensor, row0: int) -> Tensor:
        positions = torch.arange(tokens.shape[1])[None]
        live = -(-tokens.shape[1] // KV_BLOCK) * KV_BLOCK
        hidden = self.model.hidden_states(tokens, positions, cache_row0=row0, cache_len=min(live, self.seq_len))
        return self.model.lm_head(hidden[:, -1]).float()  # the head on the last position only

    @torch.inference_mode()
    def copy_row(self, src: int, dst: int) -> None:
        for layer in self.model.model.layers:
            cache = layer.self_attn.kv_cache
            cache.k_cache[dst].copy_(cache.k_cache[src])
            cache.v_cache[dst].copy_(cache.v_cache[src])

    def release(self) -> None:
        """The caches stay allocated: attention reads only the live slots of them, in place."""
