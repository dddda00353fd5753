"""Benchmark: how fast a model shape and optimizer setting learn to copy digit sequences from context.

The toy teacher's argument errors are copy errors (bench_toolcall_errors.py): digits are single
tokens, so copying a number needs a match on several preceding tokens. A full teacher run takes
minutes and its copy transition is seed-dependent; this probe isolates the skill in about a minute and a half.
Each row is a real training window (the first 256 tokens of a sample: system prompt, tool list, user
request), then `<|tool_args|>`, then a 6-20 token span of that window starting up to 6 tokens before a
number; only the repeated span is a target. It trains from scratch with the config's model (plus
`--override`) at a constant lr after warmup and reports copy accuracy on fixed held-out rows every
200 steps, over all span tokens and over digit tokens (the first tokens of a span cannot be
predicted, so neither reaches 1). Run by hand; results go to docs/benchmarks.md.

    python bench/bench_copy_probe.py --config teacher_toy --data artifacts/data/contextual_extracted.jsonl \
        --tokenizer artifacts/tokenizer --lr 5e-4 --steps 800 --override '{"n_layers": 3}'
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from modeling.config import load_role_config
from modeling.model import Transformer
from modeling.tokenizer import KSTokenizer
from training import losses
from training.sft_data import IGNORE, Example, SFTData

WINDOW, BATCH, WARMUP = 256, 8, 30


def copy_row(examples: list[Example], digits: set[int], sep: int, rng: random.Random) -> tuple[list[int], list[int]]:
    """(ids, labels): a window, the separator, then a span of the window that contains a number."""
    while True:
        window = rng.choice(examples).ids[:WINDOW]
        starts = [i for i in range(1, len(window) - 4) if window[i] in digits and window[i - 1] not in digits]
        if starts:
            break
    a = max(0, rng.choice(starts) - rng.randint(0, 6))
    span = window[a:a + rng.randint(6, 20)]
    return [*window, sep, *span], [IGNORE] * (len(window) + 1) + span


def batch(rows: list[tuple[list[int], list[int]]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids, _ in rows) - 1
    x = torch.full((len(rows), width), pad)
    y = torch.full((len(rows), width), IGNORE)
    for i, (ids, labels) in enumerate(rows):
        x[i, :len(ids) - 1] = torch.tensor(ids[:-1])
        y[i, :len(ids) - 1] = torch.tensor(labels[1:])
    return x, y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="teacher_toy", help="role config whose model is probed")
    ap.add_argument("--data", type=Path, required=True, help="extracted contextual dataset")
    ap.add_argument("--tokenizer", type=Path, required=True)
    ap.add_argument("--override", default="{}", help="JSON of model config fields to change")
    ap.add_argument("--lr", type=float, default=None, help="peak lr (default: the config's)")
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    cfg = load_role_config(args.config)
    model_cfg = cfg.model.model_copy(update=json.loads(args.override))
    lr = args.lr or cfg.training.lr
    tok = KSTokenizer.load(args.tokenizer)
    data = SFTData.load(args.data, tok, WINDOW)
    digits = {tok.tk.token_to_id(str(d)) for d in range(10)}
    digit_ids = torch.tensor(sorted(digits))
    sep = tok.tk.token_to_id("<|tool_args|>")

    torch.manual_seed(args.seed)
    rng, val_rng = random.Random(args.seed), random.Random(999)
    model = Transformer(model_cfg)
    opt = torch.optim.AdamW(model.param_groups(cfg.training.weight_decay), lr=lr, betas=cfg.training.betas)
    val = [batch([copy_row(data.heldout, digits, sep, val_rng) for _ in range(BATCH)], tok.pad_id) for _ in range(8)]

    @torch.no_grad()
    def accuracy() -> tuple[float, float]:
        model.eval()
        hit = n = hit_d = n_d = 0
        for x, y in val:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                pred = model(x).argmax(-1)
            target = y != IGNORE
            digit = target & torch.isin(y, digit_ids)
            hit, n = hit + int(((pred == y) & target).sum()), n + int(target.sum())
            hit_d, n_d = hit_d + int(((pred == y) & digit).sum()), n_d + int(digit.sum())
        model.train()
        return hit / n, hit_d / n_d

    t0, curve = time.perf_counter(), []
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / WARMUP)
        x, y = batch([copy_row(data.train, digits, sep, rng) for _ in range(BATCH)], tok.pad_id)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = losses.ce(model(x), y).sum() / (y != IGNORE).sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.training.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if (step + 1) % 200 == 0 or step + 1 == args.steps:
            acc, acc_digits = accuracy()
            curve.append({"step": step + 1, "copy_acc": round(acc, 3), "digit_copy_acc": round(acc_digits, 3)})
            print(json.dumps(curve[-1]), flush=True)
    print(json.dumps({"config": args.config, "override": json.loads(args.override), "lr": lr, "seed": args.seed,
                      "curve": curve, "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
