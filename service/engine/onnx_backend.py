"""onnxruntime backend: the exported prefill and decode graphs, with the KV cache in host arrays.

The decode graph takes the live prefix of the cache rows it works on and returns the new K/V of its
tokens; the backend writes them at their positions (`conversion.onnx_runtime.write_kv`), so slots past a
row's position may hold stale K/V exactly as in the torch backend, masked by the graph's causal mask.
An export is used only when its contract names the artifact's current weights (manifest sha256).

The host cache holds `slots` slots per row, grown in KV_BLOCK steps to the longest context a call needs
(copying the rows written so far), and cut back to the longest context of the last busy period when the
engine goes idle (`release`), so requests of similar length neither regrow it nor attend over slots no
one needs. While a call's live prefix is all of those slots, its rows are handed to the graph as they lie
(rows row0..row0+B-1 of a row-major array are one contiguous block): no per-call copy of the context,
which at 8 rows cost as much as the graph's own attention.
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
        self.rows, self.seq_len, self.slots = 0, 0, 0
        self.used = 0  # rows 0..used-1 were written since the last release
        self.peak = 0  # the longest live prefix since the last release

    @classmethod
    def from_export(cls, export_dir: str | Path, manifest: dict[str, Any], threads: int | None = 1) -> OnnxBackend:
        check_export(export_dir, manifest, "onnx")
        return cls(OnnxDecoder(export_dir, threads=threads))

    def allocate(self, rows: int, seq_len: int) -> None:
        if seq_len > self.max_seq_len:
            raise ValueError(f"max_seq_len {seq_len} exceeds the model's {self.max_seq_len}")
        if self.rows >= rows and self.seq_len >= seq_len:
            return
        self.rows, self.seq_len = rows, seq_len
        self._resize(max(self.slots, min(KV_BLOCK, seq_len)))

    def release(self) -> None:
        if 0 < self.peak < self.slots:
            self.used = 0  # nothing to keep
            self._resize(self.peak)
        self.used = self.peak = 0

    def _resize(self, slots: int) -> None:
        """Reallocate the caches with `slots` slots per row, keeping the written rows' first slots."""
        caches = self.decoder.empty_caches(self.rows, slots)
        keep = min(slots, self.slots)
        for new, old in zip(caches, self.caches, strict=False):
            new[: self.used, :, :keep] = old[: self.used, :, :keep]
        self.caches, self.slots = caches, slots

    def _live(self, last_position: int, rows_end: int) -> int:
        """Slots a call up to `last_position` on rows ..rows_end-1 attends over (the caches grown to fit)."""
        live = min(-(-(last_position + 1) // KV_BLOCK) * KV_BLOCK, self.seq_len)
        if live > self.slots:
            self._resize(live)
        self.used, self.peak = max(self.used, rows_end), max(self.peak, live)
        return live

    def forward(self, tokens: Tensor, positions: Tensor, row0: int = 0) -> Tensor:
        batch, pos = tokens.shape[0], positions.numpy()
        live = self._live(int(pos.max()), row0 + batch)
        rows = slice(row0, row0 + batch)
        if live == self.slots:  # contiguous views
            window = [c[rows] for c in self.caches]
        else:
            window = [np.ascontiguousarray(c[rows, :, :live]) for c in self.caches]
        logits, new = self.decoder.decode(tokens.numpy(), pos, window)
        written = np.arange(row0, row0 + batch)
        for cache, n in zip(self.caches, new, strict=True):
            write_kv(cache, written, pos, n)
        return torch.from_numpy(logits)

    def prefill(self, tokens: Tensor, row0: int) -> Tensor:
        self._live(tokens.shape[1] - 1, row0 + 1)
        logits, new = self.decoder.prefill(tokens.numpy())
        positions = np.arange(tokens.shape[1])[None]
        for cache, n in zip(self.caches, new, strict=True):
            write_kv(cache, np.array([row0]), positions, n)
        return torch.from_numpy(logits)

    def copy_row(self, src: int, dst: int) -> None:
        self.used = max(self.used, dst + 1)
        for cache in self.caches:
            cache[dst] = cache[src]
