"""Benchmark: training throughput (tokens/s) of each toy config on this machine.

One optimizer step = forward + backward + AdamW on a full batch of the config's first curriculum
length, random tokens, fp32 and bf16 autocast. Run by hand (`make bench-train`); results go to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from modeling.config import load_role_config
from modeling.model import Transformer


def throughput(name: str, precision: str, steps: int) -> float:
    cfg = load_role_config(name)
    torch.manual_seed(0)
    model = Transformer(cfg.model)
    opt = torch.optim.AdamW(model.param_groups(0.1), lr=1e-4)
    b, t = cfg.training.batch_size, cfg.training.seq_len[0].seq_len
    x = torch.randint(cfg.model.vocab_size, (b, t))
    times = []
    for _ in range(steps + 2):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = F.cross_entropy(model(x).flatten(0, 1).float(), x.flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    return b * t / (sum(times[2:]) / steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["teacher_toy", "worker_toy", "drafter_toy", "judge_toy"])
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for name in args.configs:
        cfg = load_role_config(name)
        params = sum(p.numel() for p in Transformer(cfg.model).parameters())
        row = {"config": name, "params": params, "batch": cfg.training.batch_size,
               "seq_len": cfg.training.seq_len[0].seq_len}
        for precision in ("fp32", "bf16"):
            row[f"tokens_per_s_{precision}"] = round(throughput(name, precision, args.steps))
        print(json.dumps(row), flush=True)
        rows.append(row)


if __name__ == "__main__":
    main()
