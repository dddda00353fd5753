"""Benchmark: one decode call of an exported graph (onnxruntime) or of the torch backend, by rows, tokens
per row and cached slots — where a step's time goes before the engine adds anything.

Each call is `Backend.forward` minus the engine: rows 0..B-1, each at positions slots-T-10 .. slots-11
(so `slots` cached slots are attended), random cache contents. Cases alternate within every round and
the best of the rounds is kept, since this machine's speed drifts by tens of percent within seconds.
`--graph` times the raw `InferenceSession.run` of an export's decode graph instead (no host-side cache
handling: what the graph itself costs).

    .venv/bin/python bench/bench_decode_calls.py --artifacts artifacts --role worker [--backend torch|onnx]
        [--graph [--export artifacts/onnx/worker]]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from conversion.onnx_runtime import OnnxDecoder
from modeling.checkpoint import load_artifact
from service.engine.backend import Backend, TorchBackend
from service.engine.onnx_backend import OnnxBackend
from service.models import read_manifest

CASES = [(1, 1), (8, 1), (1, 13), (1, 20), (8, 2)]  # (rows, tokens per row)
SLOTS = (64, 256, 1024)


def backend_call(backend: Backend, rows: int, tokens: int, slots: int) -> Callable[[], object]:
    backend.allocate(8, 2048)
    start = slots - tokens - 10
    ids = torch.randint(11, backend.vocab_size, (rows, tokens))
    positions = torch.arange(start, start + tokens).repeat(rows, 1)
    backend.forward(torch.randint(11, backend.vocab_size, (rows, slots - 10)),
                    torch.arange(slots - 10).repeat(rows, 1))  # fills the rows' context (and sizes caches)
    return lambda: backend.forward(ids, positions)


def graph_call(decoder: OnnxDecoder, rows: int, tokens: int, slots: int) -> Callable[[], object]:
    rng = np.random.default_rng(0)
    ids = rng.integers(11, decoder.vocab_size, (rows, tokens))
    positions = np.tile(np.arange(slots - tokens - 10, slots - 10), (rows, 1))
    caches = [rng.standard_normal((rows, decoder.n_kv_heads, slots, decoder.d_head), dtype=np.float32)
              for _ in range(2 * decoder.n_layers)]
    return lambda: decoder.decode(ids, positions, caches)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    ap.add_argument("--role", default="worker")
    ap.add_argument("--backend", choices=("torch", "onnx"), default="onnx")
    ap.add_argument("--graph", action="store_true", help="time the onnx decode graph alone")
    ap.add_argument("--export", type=Path, default=None, help="the ONNX export (default <artifacts>/onnx/<role>)")
    ap.add_argument("--calls", type=int, default=100, help="calls per case and round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    artifact, export = args.artifacts / args.role, args.export or args.artifacts / "onnx" / args.role
    if args.graph:
        decoder = OnnxDecoder(export, threads=1)
        calls = {(b, t, s): graph_call(decoder, b, t, s) for b, t in CASES for s in SLOTS}
    else:
        calls = {}
        for b, t in CASES:
            for s in SLOTS:  # a backend per case: each keeps its own cache size
                backend = (OnnxBackend.from_export(export, read_manifest(artifact)) if args.backend == "onnx"
                           else TorchBackend(load_artifact(artifact, role=args.role)[0]))
                calls[(b, t, s)] = backend_call(backend, b, t, s)
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(args.rounds):
        for key, call in calls.items():
            for _ in range(10):
                call()
            start = time.perf_counter()
            for _ in range(args.calls):
                call()
            best[key] = min(best[key], (time.perf_counter() - start) / args.calls * 1e3)
    what = "onnx graph" if args.graph else f"{args.backend} backend"
    print(json.dumps({"role": args.role, "measured": what, "ms_per_call": [
        {"rows": b, "tokens": t, "slots": s, "ms": round(ms, 3)} for (b, t, s), ms in best.items()]}, indent=1))


if __name__ == "__main__":
    main()
