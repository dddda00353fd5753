"""Benchmark: the generation engine on the toy worker + drafter (held-out contextual prompts).

Run by hand (`make bench-serve`) after `kimi-student bootstrap`; `--record` appends the results to
docs/benchmarks.md. Measures, single stream at temperature 0 unless said otherwise:
  plain decode tok/s, speculative (drafter, n-gram) tok/s with acceptance rate and mean accepted
  length (each end to end, prefill included, and `decode_tok_s`: the tokens after each request's
  first over the time after it, the decode phase alone), transformers `generate()` and assisted
  generation (`assistant_model=` the drafter) on the same weights, 8 concurrent streams vs 1
  (aggregate tok/s; also with every stream writing exactly max_tokens), TTFT p50 for a 512-token
  prompt. The single-stream runs alternate per prompt (`single_streams`) and the 8-stream runs with
  their one-stream baselines (`concurrency`), so the ratios hold on a machine whose speed drifts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from modeling.checkpoint import read_role_config
from modeling.tokenizer import KSTokenizer
from service.engine.backend import Backend
from service.engine.core import Engine, Request
from service.engine.params import GenerationParams, SamplingParams, StepOutput
from service.models import ModelSet
from service.settings import Settings
from training.data import generate
from training.data.jsonl import iter_rows


def held_out_prompts(tokenizer: KSTokenizer, count: int, seed: int) -> list[list[int]]:
    with tempfile.TemporaryDirectory() as tmp:
        generate.run(Path(tmp) / "raw.jsonl", count, seed)
        return [tokenizer.encode(r["prompt_text"]) for _, r in iter_rows(Path(tmp) / "raw.jsonl")]


def run_engine(engine: Engine, prompts: list[list[int]], max_tokens: int, concurrent: bool,
               ignore_eos: bool = False) -> tuple[int, float]:
    """Generate for every prompt (all at once, or one after another); (tokens, seconds).
    `ignore_eos`: every stream writes exactly max_tokens (steady-state throughput, as serving
    benchmarks measure it; otherwise streams end at their own length and a batch thins out)."""
    outs: list = []
    params = GenerationParams(SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=ignore_eos))
    start = time.perf_counter()
    if concurrent:
        for i, p in enumerate(prompts):
            engine.add_request(Request(str(i), p, params, outs.append))
        engine.run_until_idle()
    else:
        for i, p in enumerate(prompts):
            engine.add_request(Request(str(i), p, params, outs.append))
            engine.run_until_idle()
    return sum(len(o.tokens) for o in outs), time.perf_counter() - start


def concurrency(batched: Engine, single: Engine, prompts: list[list[int]], max_tokens: int, rounds: int,
                ignore_eos: bool = False) -> dict:
    """Aggregate tok/s of `batched` decoding 8 prompts at once vs `single` taking them one after another,
    over every group of 8 prompts `rounds` times, the two alternating (which goes first alternates too), so
    the machine's drift cancels from the ratio as in `single_streams`."""
    groups = [prompts[i:i + 8] for i in range(0, len(prompts) - 7, 8)]
    run_engine(batched, groups[0], max_tokens, True, ignore_eos)  # first calls of each shape stay out
    run_engine(single, groups[0][:2], max_tokens, False, ignore_eos)
    acc = {"concurrent": [0, 0.0], "single": [0, 0.0]}
    for rnd in range(rounds):
        for i, group in enumerate(groups):
            order = [("concurrent", batched, True), ("single", single, False)]
            for name, engine, concurrent in order[::-1] if (rnd + i) % 2 else order:
                tokens, seconds = run_engine(engine, group, max_tokens, concurrent, ignore_eos)
                acc[name][0] += tokens
                acc[name][1] += seconds
    out = {n: {"tokens": t, "seconds": round(sec, 3), "tok_s": round(t / sec, 1)} for n, (t, sec) in acc.items()}
    out["ratio"] = round(out["concurrent"]["tok_s"] / out["single"]["tok_s"], 2)
    return out


Runner = Callable[[list[int]], tuple[list[float], list]]  # prompt -> (output arrival times, StepOutputs)


def engine_runner(engine: Engine, max_tokens: int) -> Runner:
    params = GenerationParams(SamplingParams(temperature=0.0, max_tokens=max_tokens))

    def run(prompt: list[int]) -> tuple[list[float], list]:
        outs: list = []
        arrivals: list[float] = []

        def sink(o) -> None:
            outs.append(o)
            arrivals.append(time.perf_counter())

        engine.add_request(Request("bench", prompt, params, sink))
        engine.run_until_idle()
        return arrivals, outs

    return run


def hf_runner(artifacts: Path, max_tokens: int, end_id: int, assisted: bool) -> Runner:
    """`transformers` generate() on the same weights (assisted: `assistant_model=` the drafter, used as an
    ordinary autoregressive assistant); end to end only (no first-token time)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(artifacts / "worker").eval()
    kwargs = {}
    if assisted:
        kwargs["assistant_model"] = AutoModelForCausalLM.from_pretrained(artifacts / "drafter").eval()

    def run(prompt: list[int]) -> tuple[list[float], list]:
        ids = torch.tensor([prompt])
        with torch.inference_mode():
            out = model.generate(ids, max_new_tokens=max_tokens, do_sample=False, eos_token_id=end_id,
                                 pad_token_id=0, **kwargs)
        return [time.perf_counter()], [StepOutput(0, out[0, ids.shape[1]:].tolist())]

    return run


def single_streams(runners: dict[str, Runner], prompts: list[list[int]], rounds: int) -> dict:
    """Every prompt through each runner in turn, one request at a time, `rounds` times (the order rotating
    per prompt): this machine's speed drifts by tens of percent within seconds (the same plain run took
    1.14 to 1.96 s, CPU time equal to wall time), and alternating per prompt cancels that drift from the
    ratios, where one block of runs per runner does not. Per runner: tok/s end to end (prefill included)
    and, for the engine, `decode_tok_s` (the tokens after each request's first, over the time after it)."""
    names = list(runners)
    for name in names:  # first calls of each shape (oneDNN picks its kernels) stay out of the timing
        for prompt in prompts[:4]:
            runners[name](prompt)
    keys = ("tokens", "seconds", "decode_tokens", "decode_seconds", "drafted", "accepted", "bursts")
    acc = {n: dict.fromkeys(keys, 0.0) for n in names}
    for rnd in range(rounds):
        for i, prompt in enumerate(prompts):
            k = (i + rnd) % len(names)
            for name in names[k:] + names[:k]:
                start = time.perf_counter()
                arrivals, outs = runners[name](prompt)
                a, tokens = acc[name], sum(len(o.tokens) for o in outs)
                a["tokens"] += tokens
                a["seconds"] += arrivals[-1] - start
                a["decode_tokens"] += tokens - 1
                a["decode_seconds"] += arrivals[-1] - arrivals[0]
                a["drafted"] += sum(o.drafted for o in outs)
                a["accepted"] += sum(o.accepted for o in outs)
                a["bursts"] += sum(1 for o in outs if o.drafted)
    results = {}
    for n, a in acc.items():
        results[n] = {"tokens": int(a["tokens"]), "seconds": round(a["seconds"], 3),
                      "tok_s": round(a["tokens"] / a["seconds"], 1)}
        if a["decode_seconds"]:
            results[n]["decode_tok_s"] = round(a["decode_tokens"] / a["decode_seconds"], 1)
        if a["drafted"]:
            results[n]["acceptance_rate"] = round(a["accepted"] / a["drafted"], 3)
            results[n]["mean_accepted_length"] = round(1 + a["accepted"] / a["bursts"], 2)
    return results


def ttft_p50(worker: Backend, prompt: list[int], end_id: int, repeats: int = 10) -> float:
    engine = Engine(worker, end_id=end_id, max_num_seqs=1)
    times = []
    for i in range(repeats):
        first: list[float] = []
        start = time.perf_counter()
        params = GenerationParams(SamplingParams(temperature=0.0, max_tokens=1))
        engine.add_request(Request(str(i), prompt, params, lambda o, f=first: f.append(time.perf_counter())))
        engine.run_until_idle()
        times.append(first[0] - start)
    return round(statistics.median(times) * 1000, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--gamma", type=int, default=None,
                    help="draft length (default: every guess of a parallel drafter, else 4)")
    ap.add_argument("--seed", type=int, default=9001, help="dataset seed of the held-out prompts")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the prompts of the single-stream comparison")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--backend", default="auto",
                    help="as `serve --backend`: auto (the default: onnx where <artifacts>/onnx/<role> holds a "
                         "current `kimi-student export onnx`, else torch), torch, onnx, or per role "
                         "(torch,drafter=onnx)")
    ap.add_argument("--record", action="store_true", help="append the results to docs/benchmarks.md")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tok = KSTokenizer.load(args.artifacts / "worker")
    served = Settings(artifacts=args.artifacts, backend=args.backend, torch_threads=torch.get_num_threads())
    models = ModelSet(served, metrics=None)  # the service's own backend choice (onnx: <artifacts>/onnx/<role>)
    worker, drafter = models.backend("worker"), models.backend("drafter")
    parallel = read_role_config(args.artifacts / "drafter").model.parallel_draft
    prompts = held_out_prompts(tok, args.prompts, args.seed)
    end = tok.end_id
    r: dict = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
               "prompts": len(prompts), "rounds": args.rounds, "max_tokens": args.max_tokens,
               "parallel_draft": parallel,
               "backend": {r: served.backend_for(r) for r in ("worker", "drafter")}}

    def engine(spec: str, rows: int = 1) -> Engine:
        return Engine(worker, end_id=end, max_num_seqs=rows, max_queue=len(prompts), speculative=spec,
                      drafter=drafter if spec == "draft" else None, num_speculative_tokens=args.gamma,
                      parallel_draft=parallel, pad_id=tok.pad_id)

    n = args.max_tokens
    r["gamma"] = engine("draft").gamma.gamma_max
    r.update(single_streams({
        "plain": engine_runner(engine("off"), n), "speculative_draft": engine_runner(engine("draft"), n),
        "speculative_ngram": engine_runner(engine("ngram"), n),
        "transformers_generate": hf_runner(args.artifacts, n, end, assisted=False),
        "transformers_assisted": hf_runner(args.artifacts, n, end, assisted=True)}, prompts, args.rounds))
    r["concurrent_8"] = concurrency(engine("off", rows=8), engine("off"), prompts, n, args.rounds)
    r["concurrent_8_fixed_length"] = concurrency(engine("off", rows=8), engine("off"), prompts, n, args.rounds,
                                                 ignore_eos=True)
    long_prompt = ([t for p in prompts for t in p] * 4)[:512]
    r["ttft_512_p50_ms"] = ttft_p50(worker, long_prompt, end)
    plain = r["plain"]["tok_s"]
    r["ratios"] = {
        "draft_vs_plain": round(r["speculative_draft"]["tok_s"] / plain, 2),
        "draft_vs_plain_decode": round(r["speculative_draft"]["decode_tok_s"] / r["plain"]["decode_tok_s"], 2),
        "ngram_vs_plain_decode": round(r["speculative_ngram"]["decode_tok_s"] / r["plain"]["decode_tok_s"], 2),
        "ngram_vs_plain": round(r["speculative_ngram"]["tok_s"] / plain, 2),
        "plain_vs_transformers": round(plain / r["transformers_generate"]["tok_s"], 2),
        "draft_vs_transformers_assisted": round(r["speculative_draft"]["tok_s"] / r["transformers_assisted"]["tok_s"],
                                                2),
        "concurrent8_vs_single": r["concurrent_8"]["ratio"],
        "concurrent8_vs_single_fixed_length": r["concurrent_8_fixed_length"]["ratio"],
    }
    print(json.dumps(r, indent=2))
    if args.record:
        doc = Path("docs/benchmarks.md")
        with doc.open("a") as f:
            f.write("\n## Generation engine (bench/bench_serve.py)\n\n```json\n" + json.dumps(r, indent=2) + "\n```\n")


if __name__ == "__main__":
    main()
