"""onnxruntime backend: the exported prefill and decode graphs, with the KV cache in host arrays.

The decode graph takes the live prefix of the cache rows it works on and returns the new K/V of its
tokens; the backend writes them at their positions (`conversion.onnx_runtime.write_kv`), so slots past a
row's position may hold stale K/V exactly as in the torch backend, masked by the graph's causal mask.
An export is used only when its contract names the artifact's current weights (manifest sha256).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from conversion.contracts import check_export
from conversion.onnx_runtime import OnnxDecoder, write_kv
from service.engine.backend import KV_BLOCK


class OnnxBackend:
    def __init__(self, decoder: OnnxDecoder):
        self.decoder = decoder
        self.vocab_size, self.max_seq_len = decoder.vocab_size, decoder.max_seq_len
        self.caches: list[np.ndarray] = []
        self.rows, self.seq_len = 0, 0

    @classmethod
    def from_export(cls, export_dir: str | Path, manifest: dict[str, Any], threads: int | None = 1) -> OnnxBackend:
        check_export(export_dir, manifest, "onnx")
        return cls(OnnxDecoder(export_dir, threads=threads))

    def allocate(self, rows: int, seq_len: int) -> None:
        if seq_len > self.max_seq_len:
            raise ValueError(f"max_seq_len {seq_len} exceeds the model's {self.max_seq_len}")
        if self.rows >= rows and self.seq_len >= seq_len:
            return
        self.caches = self.decoder.empty_caches(rows, seq_len)
        self.rows, self.seq_len = rows, seq_len

    def _live(self, last_position: int) -> int:
        return min(-(-(last_position + 1) // KV_BLOCK) * KV_BLOCK, self.seq_len)

    def forward(self, tokens: Tensor, positions: Tensor, row0: int = 0) -> Tensor:
        batch, pos = tokens.shape[0], positions.numpy()
        live = self._live(int(pos.max()))
        window = [np.ascontiguousarray(c[row0:row0 + batch, :, :live]) for c in self.caches]
        logits, new = self.decoder.decode(tokens.numpy(), pos, window)
        rows = np.arange(row0, row0 + batch)
        for cache, n in zip(self.caches, new, strict=True):
            write_kv(cache, rows, pos, n)
        return torch.from_numpy(logits)

    def prefill(self, tokens: Tensor, row0: int) -> Tensor:
        logits, new = self.decoder.prefill(tokens.numpy())
        positions = np.arange(tokens.shape[1])[None]
        for cache, n in zip(self.caches, new, strict=True):
            write_kv(cache, np.array([row0]), positions, n)
        return torch.from_numpy(logits)

    def copy_row(self, src: int, dst: int) -> None:
        for cache in self.caches:
            cache[dst] = cache[src]
