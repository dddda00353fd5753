"""Benchmark: the contextual dataset pipeline at 10k samples (generate, tokenizer, extract, verify).

Run by hand (`make bench-data`); results go to docs/benchmarks.md. Targets on the 2-core CI
machine: generate 10k <= 60 s, verify 10k <= 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from modeling.tokenizer import save_tokenizer, train_tokenizer
from training.data import extract, gates, generate
from training.data.jsonl import iter_rows


def timed(label: str, fn, results: dict) -> object:
    t0 = time.perf_counter()
    out = fn()
    results[label] = round(time.perf_counter() - t0, 2)
    print(f"{label:<16} {results[label]:>8.2f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--total", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--vocab-size", type=int, default=2048)
    args = ap.parse_args()
    results: dict = {"total": args.total, "cpus": os.cpu_count(), "python": platform.python_version()}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        timed("generate", lambda: generate.run(d / "raw.jsonl", args.total, args.seed), results)
        texts = (r["prompt_text"] + r["teacher_text"] for _, r in iter_rows(d / "raw.jsonl"))
        timed("tokenizer_train", lambda: save_tokenizer(train_tokenizer(texts, args.vocab_size), d / "tok"), results)
        timed("extract", lambda: extract.run(d / "raw.jsonl", d / "x.jsonl", d / "tok"), results)
        report, _ = timed("verify", lambda: gates.run(d / "x.jsonl", d / "r.json"), results)
        results["gates_failed"] = [g["gate"] for g in report["gates"] if g["status"] == "FAIL"]
        results["size_mb"] = round((d / "x.jsonl").stat().st_size / 1e6, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
