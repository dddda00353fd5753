"""Benchmark: the generation engine on the toy worker + drafter (held-out contextual prompts).

Run by hand (`make bench-serve`) after `kimi-student bootstrap`; `--record` appends the results to
docs/benchmarks.md. Measures, single stream at temperature 0 unless said otherwise:
  plain decode tok/s, speculative (drafter, n-gram) tok/s with acceptance rate and mean accepted
  length, transformers `generate()` and assisted generation (`assistant_model=` the drafter) on the
  same weights, 8 concurrent streams vs 1 (aggregate tok/s; also with every stream writing exactly
  max_tokens), TTFT p50 for a 512-token prompt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from modeling.tokenizer import KSTokenizer
from service.engine.backend import Backend
from service.engine.core import Engine, Request
from service.engine.params import GenerationParams, SamplingParams
from service.models import ModelSet
from service.settings import Settings
from training.data import generate
from training.data.jsonl import iter_rows


def held_out_prompts(tokenizer: KSTokenizer, count: int, seed: int) -> list[list[int]]:
    with tempfile.TemporaryDirectory() as tmp:
        generate.run(Path(tmp) / "raw.jsonl", count, seed)
        return [tokenizer.encode(r["prompt_text"]) for _, r in iter_rows(Path(tmp) / "raw.jsonl")]


def run_engine(engine: Engine, prompts: list[list[int]], max_tokens: int, concurrent: bool,
               ignore_eos: bool = False) -> dict:
    """Generate for every prompt (all at once, or one after another); tok/s and speculation stats.
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
    seconds = time.perf_counter() - start
    tokens = sum(len(o.tokens) for o in outs)
    drafted, accepted = sum(o.drafted for o in outs), sum(o.accepted for o in outs)
    steps = sum(1 for o in outs if o.drafted)
    return {"tokens": tokens, "seconds": round(seconds, 3), "tok_s": round(tokens / seconds, 1),
            "acceptance_rate": round(accepted / drafted, 3) if drafted else None,
            "mean_accepted_length": round(1 + accepted / steps, 2) if steps else None}


def hf_generate(artifacts: Path, prompts: list[list[int]], max_tokens: int, end_id: int, assisted: bool) -> dict:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(artifacts / "worker").eval()
    kwargs = {}
    if assisted:
        kwargs["assistant_model"] = AutoModelForCausalLM.from_pretrained(artifacts / "drafter").eval()
    tokens, start = 0, time.perf_counter()
    with torch.inference_mode():
        for p in prompts:
            ids = torch.tensor([p])
            out = model.generate(ids, max_new_tokens=max_tokens, do_sample=False, eos_token_id=end_id,
                                 pad_token_id=0, **kwargs)
            tokens += out.shape[1] - ids.shape[1]
    seconds = time.perf_counter() - start
    return {"tokens": tokens, "seconds": round(seconds, 3), "tok_s": round(tokens / seconds, 1)}


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
    ap.add_argument("--gamma", type=int, default=4)
    ap.add_argument("--seed", type=int, default=9001, help="dataset seed of the held-out prompts")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--backend", default="torch",
                    help="as `serve --backend`: torch, onnx, or per role (torch,drafter=onnx); onnx reads "
                         "<artifacts>/onnx/<role> (`kimi-student export onnx`)")
    ap.add_argument("--record", action="store_true", help="append the results to docs/benchmarks.md")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tok = KSTokenizer.load(args.artifacts / "worker")
    served = Settings(artifacts=args.artifacts, backend=args.backend, torch_threads=torch.get_num_threads())
    models = ModelSet(served, metrics=None)  # the service's own backend choice (onnx: <artifacts>/onnx/<role>)
    worker, drafter = models.backend("worker"), models.backend("drafter")
    prompts = held_out_prompts(tok, args.prompts, args.seed)
    end = tok.end_id
    r: dict = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
               "prompts": len(prompts), "max_tokens": args.max_tokens, "gamma": args.gamma,
               "backend": {r: served.backend_for(r) for r in ("worker", "drafter")}}

    def engine(spec: str, rows: int = 1) -> Engine:
        return Engine(worker, end_id=end, max_num_seqs=rows, max_queue=len(prompts), speculative=spec,
                      drafter=drafter if spec == "draft" else None, num_speculative_tokens=args.gamma)

    r["plain"] = run_engine(engine("off"), prompts, args.max_tokens, concurrent=False)
    r["speculative_draft"] = run_engine(engine("draft"), prompts, args.max_tokens, concurrent=False)
    r["speculative_ngram"] = run_engine(engine("ngram"), prompts, args.max_tokens, concurrent=False)
    r["concurrent_8"] = run_engine(engine("off", rows=8), prompts[:8], args.max_tokens, concurrent=True)
    r["single_8"] = run_engine(engine("off"), prompts[:8], args.max_tokens, concurrent=False)
    r["concurrent_8_fixed_length"] = run_engine(engine("off", rows=8), prompts[:8], args.max_tokens, concurrent=True,
                                                ignore_eos=True)
    r["single_8_fixed_length"] = run_engine(engine("off"), prompts[:8], args.max_tokens, concurrent=False,
                                            ignore_eos=True)
    r["transformers_generate"] = hf_generate(args.artifacts, prompts, args.max_tokens, end, assisted=False)
    r["transformers_assisted"] = hf_generate(args.artifacts, prompts, args.max_tokens, end, assisted=True)
    long_prompt = ([t for p in prompts for t in p] * 4)[:512]
    r["ttft_512_p50_ms"] = ttft_p50(worker, long_prompt, end)
    plain = r["plain"]["tok_s"]
    r["ratios"] = {
        "draft_vs_plain": round(r["speculative_draft"]["tok_s"] / plain, 2),
        "ngram_vs_plain": round(r["speculative_ngram"]["tok_s"] / plain, 2),
        "plain_vs_transformers": round(plain / r["transformers_generate"]["tok_s"], 2),
        "draft_vs_transformers_assisted": round(r["speculative_draft"]["tok_s"] / r["transformers_assisted"]["tok_s"],
                                                2),
        "concurrent8_vs_single": round(r["concurrent_8"]["tok_s"] / r["single_8"]["tok_s"], 2),
        "concurrent8_vs_single_fixed_length": round(r["concurrent_8_fixed_length"]["tok_s"]
                                                    / r["single_8_fixed_length"]["tok_s"], 2),
    }
    print(json.dumps(r, indent=2))
    if args.record:
        doc = Path("docs/benchmarks.md")
        with doc.open("a") as f:
            f.write("\n## Generation engine (bench/bench_serve.py)\n\n```json\n" + json.dumps(r, indent=2) + "\n```\n")


if __name__ == "__main__":
    main()
