"""Benchmark: where a model's held-out tool calls go wrong (argument error analysis).

Decodes the held-out assistant turns exactly as `training.toolcall_eval.evaluate` does (greedy, gold
history as context) and, for every call turn whose tool names are right but whose arguments are not,
writes the differing argument leaves (gold vs predicted) and whether the gold value appears verbatim
in the prompt (a copy error) or not (the model had to infer it). The summary counts failing leaves
per (tool, argument path) and splits them by copy vs inference. Run by hand; results go to
docs/benchmarks.md.

    python bench/bench_toolcall_errors.py --artifact artifacts/teacher \
        --data artifacts/data/contextual_extracted.jsonl --turns 400 --out /tmp/errors.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from modeling.chat import parse_tool_calls
from modeling.checkpoint import load_artifact
from modeling.tokenizer import KSTokenizer
from training.sft_data import SFTData
from training.toolcall_eval import decode_greedy, heldout_prompts, score_turn

MAX_NEW_TOKENS = 160  # as in toolcall_eval.evaluate


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(JSON path, scalar) for every leaf of a parsed JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def argument_diffs(gold: list[tuple[str, Any]], text: str, prompt: str) -> list[dict[str, Any]]:
    """Differing argument leaves of calls paired by tool name (both sides sorted by name)."""
    predicted = []
    for name, raw in parse_tool_calls(text)[1]:
        try:
            predicted.append((name.strip(), json.loads(raw)))
        except json.JSONDecodeError:
            predicted.append((name.strip(), {"<unparsed>": raw}))
    diffs = []
    for (name, g), (_, p) in zip(sorted(gold, key=lambda c: c[0]), sorted(predicted, key=lambda c: c[0]), strict=False):
        gl, pl = dict(leaves(g)), dict(leaves(p))
        for key in sorted(set(gl) | set(pl)):
            if gl.get(key, "<missing>") != pl.get(key, "<missing>"):
                want = gl.get(key, "<missing>")
                diffs.append({"tool": name, "key": key, "gold": want, "pred": pl.get(key, "<missing>"),
                              "gold_in_prompt": key in gl and str(want) in prompt})
    return diffs


@torch.no_grad()
def analyse(artifact: Path, data: Path, max_turns: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    model, cfg = load_artifact(artifact)
    model.eval()
    tok = KSTokenizer.load(artifact)
    sft = SFTData.load(data, tok, cfg.model.max_seq_len)
    items = heldout_prompts(tok, sft.rows_heldout, sft.tools, max_turns, MAX_NEW_TOKENS, cfg.model.max_seq_len)
    calls = [(row, gold, prompt) for row, _, gold, prompt in items if gold]
    outs = decode_greedy(model, [prompt for *_, prompt in calls], MAX_NEW_TOKENS, tok.end_id)
    names, exact, failures = 0, 0, []
    for (row, gold, ids), out in zip(calls, outs, strict=True):
        text = tok.decode(out)
        score = score_turn(text, gold)
        names, exact = names + score["name"], exact + score["args"]
        if score["name"] and not score["args"]:
            failures.append({"id": row["metadata"]["sample_id"], "prompt_tokens": len(ids),
                             "diffs": argument_diffs(gold, text, tok.decode(ids))})
    per_key = Counter(f"{d['tool']} {d['key']}" for f in failures for d in f["diffs"])
    copied = sum(d["gold_in_prompt"] for f in failures for d in f["diffs"])
    total = sum(len(f["diffs"]) for f in failures)
    summary = {"turns": len(items), "call_turns": len(calls), "tool_name_acc": round(names / max(len(calls), 1), 4),
               "exact_args_acc": round(exact / max(len(calls), 1), 4), "wrong_args_turns": len(failures),
               "wrong_leaves": total, "wrong_leaves_gold_in_prompt": copied,
               "by_argument": dict(per_key.most_common(15))}
    return summary, failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True, help="extracted contextual dataset")
    ap.add_argument("--turns", type=int, default=400, help="held-out assistant turns decoded")
    ap.add_argument("--out", type=Path, help="JSONL of the failing turns and their differing leaves")
    args = ap.parse_args()
    summary, failures = analyse(args.artifact, args.data, args.turns)
    if args.out:
        args.out.write_text("".join(json.dumps(f, ensure_ascii=False) + "\n" for f in failures))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
