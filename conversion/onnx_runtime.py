"""onnxruntime sessions over an ONNX export, with the host-side KV cache bookkeeping its contract asks for.

`OnnxDecoder.prefill` and `decode` run the graphs; `write_kv` puts their new K/V into cache arrays at the
positions they were computed for. The service's ONNX backend and the parity checks both use these.
`OnnxJudgeHeads` runs a judge export's `judge` graph (score and clause logits) for `JudgeModel`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from conversion.contracts import read_contract
from conversion.onnx_export import GRAPH_FILES


def session(path: Path, threads: int | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def write_kv(cache: np.ndarray, rows: np.ndarray, positions: np.ndarray, new: np.ndarray) -> None:
    """cache [R, Hkv, S, Dh]; rows [B]; positions [B, T]; new [B, Hkv, T, Dh] -> cache[rows[b], :, positions[b, t]]."""
    cache[rows[:, None], :, positions] = new.transpose(0, 2, 1, 3)


class OnnxDecoder:
    def __init__(self, export_dir: str | Path, threads: int | None = None):
        self.dir = Path(export_dir)
        self.contract = read_contract(self.dir)
        model = self.contract["model"]
        self.n_layers, self.n_kv_heads, self.d_head = model["n_layers"], model["n_kv_heads"], model["d_head"]
        self.vocab_size, self.max_seq_len = model["vocab_size"], model["max_seq_len"]
        self.prefill_session = session(self.dir / GRAPH_FILES["prefill"], threads)
        self.decode_session = session(self.dir / GRAPH_FILES["decode"], threads)
        self.cache_names = [f"cache_{kv}_{i}" for i in range(self.n_layers) for kv in "kv"]

    def empty_caches(self, rows: int, slots: int) -> list[np.ndarray]:
        shape = (rows, self.n_kv_heads, slots, self.d_head)
        return [np.zeros(shape, dtype=np.float32) for _ in range(2 * self.n_layers)]

    def prefill(self, tokens: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """tokens [B, T] int64 at positions 0..T-1 -> last logits [B, V], new K/V (k0, v0, k1, ...)."""
        logits, *new = self.prefill_session.run(None, {"tokens": tokens.astype(np.int64)})
        return logits, new

    def decode(
        self, tokens: np.ndarray, positions: np.ndarray, caches: list[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """tokens, positions [B, T]; caches [B, Hkv, S, Dh] each -> logits [B, T, V], new K/V [B, Hkv, T, Dh]."""
        feed = {"tokens": tokens.astype(np.int64), "positions": positions.astype(np.int64)}
        feed.update(zip(self.cache_names, caches, strict=True))
        logits, *new = self.decode_session.run(None, feed)
        return logits, new


class OnnxJudgeHeads:
    """A judge export's heads graph as `JudgeModel`'s `heads`: (ids, mask) [B, T] -> (score [B], clause
    logits [B, 5]). One `run` per batch: the whole forward runs without the GIL, which matters in a
    server whose request threads want it at the same time."""

    def __init__(self, export_dir: str | Path, threads: int | None = None):
        self.dir = Path(export_dir)
        self.session = session(self.dir / GRAPH_FILES["judge"], threads)

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        score, clause = self.session.run(None, {"input_ids": ids.numpy().astype(np.int64),
                                                "attention_mask": mask.numpy().astype(np.int64)})
        return torch.from_numpy(score), torch.from_numpy(clause)
