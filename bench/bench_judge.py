"""Judge latency and throughput: `score` at the enumerated lengths (512/1024/2048 tokens) and the batch path.

    python bench/bench_judge.py --artifact artifacts/judge [--repeats 20] [--batch 32]

Inputs are real arbiter renderings (from judge pairs made on the fly) whose rationale is stretched
until prompt + candidate fill exactly N tokens, so the truncation rule never fires. Prints JSON
with the machine, load average, p50/p90 per length and batch candidates per second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from modeling.judge import ENUMERATED_LENGTHS, JudgeModel, encode_input
from training.judge.pairs import run as make_pairs


def sample_inputs(n: int) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        make_pairs(Path(tmp), scenarios=max(20, n), seed=123)
        rows = [json.loads(line) for line in (Path(tmp) / "test.jsonl").read_text().splitlines()[1:]]
        rows += [json.loads(line) for line in (Path(tmp) / "train.jsonl").read_text().splitlines()[1:]]
    return [(r["prompt"], r["a"]["text"]) for r in rows[:n]]


def stretch(judge: JudgeModel, prompt: str, candidate: str, length: int) -> str:
    """The candidate with its rationale extended so the encoded input is exactly `length` tokens."""
    filler = " The change keeps the module boundaries and the rollback path documented in the spec."
    text = candidate
    while len(encode_input(judge.tokenizer, prompt, text, 1 << 20).ids) < length:
        text += filler
    while len(encode_input(judge.tokenizer, prompt, text, 1 << 20).ids) > length:
        text = text[:-1]
    return text


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, default=Path("artifacts/judge"))
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    torch.manual_seed(0)
    judge = JudgeModel.load(args.artifact, max_len=max(ENUMERATED_LENGTHS))
    inputs = sample_inputs(args.batch)
    prompt, candidate = random.Random(0).choice(inputs)
    report: dict = {"machine": f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}",
                    "threads": torch.get_num_threads(), "load_before": os.getloadavg()[0], "score_ms": {}}
    for length in ENUMERATED_LENGTHS:
        if length > judge.model.config.max_seq_len:
            continue
        text = stretch(judge, prompt, candidate, length)
        ms = timed(lambda t=text: judge.score(prompt, t), args.repeats)
        report["score_ms"][length] = {"p50": round(statistics.median(ms), 2),
                                      "p90": round(statistics.quantiles(ms, n=10)[-1], 2)}
    prompts, cands = [p for p, _ in inputs], [c for _, c in inputs]
    mean_tokens = statistics.mean(len(encode_input(judge.tokenizer, p, c, judge.max_len).ids) for p, c in inputs)
    ms = timed(lambda: judge.score_batch(prompts, cands), max(3, args.repeats // 5))
    report["batch"] = {"candidates": len(inputs), "mean_tokens": round(mean_tokens, 1),
                       "batch_size": judge.batch_size, "p50_ms": round(statistics.median(ms), 1),
                       "candidates_per_s": round(len(inputs) / (statistics.median(ms) / 1000), 1)}
    report["load_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
