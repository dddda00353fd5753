"""Benchmark: a training step on padded batches against the same batches as ragged rows (training/ragged.py).

Real batches of a bootstrap's artifacts, drawn as the trainers draw them: the teacher's SFT batches,
the parallel drafter's (its groups of pads appended) and the judge's (16 pairs' distinct candidates).
One process alternates the two layouts on the same batches (so the machine's drift cancels) and
reports forward + backward time per step, the tokens each layout computes, and (teacher, drafter) the
largest difference between their losses and gradients. The model is the role's config freshly
initialised (the step's cost does not depend on the weights).
`--attention` instead compares, on the ragged rows under bf16 autocast, attention computed in bf16 with
attention in fp32 (what `modeling.precision.attention_dtype` picks on a CPU).
Run by hand: `python bench/bench_ragged.py --artifacts artifacts [--attention]`; results go to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from modeling import model as model_module
from modeling.config import load_role_config
from modeling.judge import pad_batch
from modeling.model import WIDTH_BUCKET, Transformer
from modeling.precision import effective_precision
from modeling.tokenizer import KSTokenizer
from training import kd_data, losses, parallel_draft
from training.judge.trainer import load_split
from training.losses import IGNORE
from training.ragged import ragged_batch, ragged_rows
from training.sft_data import SFTData, pick_batch


@contextmanager
def attention_in(dtype: torch.dtype | None) -> Iterator[None]:
    """Attention in `dtype` whatever the rule says (None: the rule)."""
    rule = model_module.attention_dtype
    if dtype is not None:
        model_module.attention_dtype = lambda *_: dtype
    try:
        yield
    finally:
        model_module.attention_dtype = rule


def variants(attention: bool) -> tuple[tuple[str, str], tuple[torch.dtype | None, torch.dtype | None]]:
    """The two variants compared: their names and the attention dtype each forces (None: the rule)."""
    if attention:
        return ("bf16_attention", "fp32_attention"), (torch.bfloat16, torch.float32)
    return ("padded", "ragged"), (None, None)


def step(model: Transformer, batch: tuple, ragged: bool) -> tuple[float, list[torch.Tensor]]:
    x, y, w, _, _, _, positions, layout = batch
    at = y != IGNORE
    if ragged:
        logits = model(x, positions, logits_at=at, ragged=layout)
    else:
        logits = model(x, positions, logits_at=at, attn_mask=layout)
    loss = (losses.ce(logits, y[at][None]) * w[at][None]).sum()
    return float(loss.detach()), torch.autograd.grad(loss, list(model.parameters()))


def compare(role: str, data: SFTData, tok: KSTokenizer, batches: int, repeats: int, attention: bool = False) -> dict:
    """Padded against ragged batches; with `attention`, ragged batches with attention in bf16 against fp32."""
    cfg = load_role_config(role)
    t = cfg.training
    seq_len = max(s.seq_len for s in t.seq_len)
    weights = {"tool_name": t.w_tool, "json_args": t.w_args, "integration": t.w_integr}
    torch.manual_seed(0)
    model = Transformer(cfg.model)
    bf16 = effective_precision(t.precision) == "bf16"
    pairs, layout_s = [], 0.0
    for draw in range(batches):
        padded = (*kd_data.collate(pick_batch(data.train, seq_len, t.batch_size, t.seed, draw), tok.pad_id, seq_len,
                                   weights), None, None)
        if cfg.model.parallel_draft:
            cuts = torch.Generator().manual_seed(t.seed * 1_000_003 + draw)
            padded = parallel_draft.parallel_batch(*padded[:6], cfg.model.parallel_draft, t.draft_groups,
                                                   tok.pad_id, cuts)
        t0 = time.perf_counter()
        ragged = ragged_batch(*padded, pad_id=tok.pad_id)
        layout_s += time.perf_counter() - t0
        pairs.append((ragged, ragged) if attention else (padded, ragged))
    names, dtypes = variants(attention)

    def run(batch: tuple, k: int) -> tuple[float, list[torch.Tensor]]:
        with attention_in(dtypes[k]):
            return step(model, batch, attention or k == 1)

    seconds, tokens, loss_diff, grad_diff = [0.0, 0.0], [0, 0], 0.0, 0.0
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for pair in pairs[:2]:  # warm-up, and the two variants' agreement
            (la, ga), (lb, gb) = run(pair[0], 0), run(pair[1], 1)
            loss_diff = max(loss_diff, abs(la - lb) / abs(la))
            grad_diff = max(grad_diff, max(float((a - b).abs().max()) for a, b in zip(ga, gb, strict=True)))
        for _ in range(repeats):
            for pair in pairs:
                for k, batch in enumerate(pair):
                    t0 = time.perf_counter()
                    run(batch, k)
                    seconds[k] += time.perf_counter() - t0
                    tokens[k] += batch[0].numel()
    n = repeats * len(pairs)
    return {"role": role, "precision": "bf16" if bf16 else "fp32", "batches": len(pairs),
            f"{names[0]}_ms": round(seconds[0] / n * 1000, 1), f"{names[1]}_ms": round(seconds[1] / n * 1000, 1),
            "speedup": round(seconds[0] / seconds[1], 3), f"{names[0]}_tokens": round(tokens[0] / n),
            f"{names[1]}_tokens": round(tokens[1] / n), "layout_ms": round(layout_s / len(pairs) * 1000, 2),
            "max_relative_loss_diff": loss_diff, "max_grad_diff": grad_diff}


def compare_judge(artifacts: Path, tok: KSTokenizer, batches: int, repeats: int, attention: bool = False) -> dict:
    """The judge trainer's batch: 16 pairs' distinct candidates as two length-sorted padded halves (its
    layout before ragged rows, filler copies included) against one ragged row; forward + backward of the
    pooled heads. With `attention`: the ragged row with attention in bf16 against fp32."""
    cfg = load_role_config("judge_toy")
    t = cfg.training
    split = load_split(artifacts / "data" / "judge_pairs" / "train.jsonl")
    ids = split.ids(tok, max(s.seq_len for s in t.seq_len))
    torch.manual_seed(0)
    model = Transformer(cfg.model)
    bf16 = effective_precision(t.precision) == "bf16"
    rng = random.Random(0)
    layouts = []
    for _ in range(batches):
        pairs = torch.tensor(rng.sample(range(len(split.winner)), t.batch_size))
        rows = [ids[int(c)] for c in torch.unique(torch.cat([split.a[pairs], split.b[pairs]]))]
        slots = sorted(rows + rows[:1] * (2 * len(pairs) - len(rows)), key=len)
        halves = [pad_batch(h, tok.pad_id, WIDTH_BUCKET) for h in (slots[:len(pairs)], slots[len(pairs):])]
        row = ragged_rows(rows, tok.pad_id)
        layouts.append((row, row) if attention else (halves, row))
    names, dtypes = variants(attention)

    def run(layout, k: int) -> int:
        with attention_in(dtypes[k]):
            return forward_backward(layout, attention or k == 1)

    def forward_backward(layout, ragged: bool) -> int:
        if ragged:
            x, positions, row, last = layout
            outs = [model.judge(x, ragged=row, input_pos=positions, last=last)]
        else:
            outs = [model.judge(x, mask) for x, mask in layout]
        loss = sum(score.float().sum() + clause.float().sum() for score, clause in outs)
        torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
        return layout[0].numel() if ragged else sum(x.numel() for x, _ in layout)

    seconds, tokens = [0.0, 0.0], [0, 0]
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for pair in layouts[:2]:
            run(pair[0], 0), run(pair[1], 1)
        for _ in range(repeats):
            for pair in layouts:
                for k in (0, 1):
                    t0 = time.perf_counter()
                    tokens[k] += run(pair[k], k)
                    seconds[k] += time.perf_counter() - t0
    n = repeats * len(layouts)
    return {"role": "judge_toy", "precision": "bf16" if bf16 else "fp32", "batches": len(layouts),
            f"{names[0]}_ms": round(seconds[0] / n * 1000, 1), f"{names[1]}_ms": round(seconds[1] / n * 1000, 1),
            "speedup": round(seconds[0] / seconds[1], 3), f"{names[0]}_tokens": round(tokens[0] / n),
            f"{names[1]}_tokens": round(tokens[1] / n)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    ap.add_argument("--roles", nargs="+", default=["teacher_toy", "drafter_toy", "judge_toy"])
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--attention", action="store_true", help="ragged rows: attention in bf16 against fp32")
    args = ap.parse_args()
    tok = KSTokenizer.load(args.artifacts / "tokenizer")
    data = SFTData.load(args.artifacts / "data" / "contextual_extracted.jsonl", tok, 384)
    for role in args.roles:
        result = (compare_judge(args.artifacts, tok, args.batches, args.repeats, args.attention) if role == "judge_toy"
                  else compare(role, data, tok, args.batches, args.repeats, args.attention))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
