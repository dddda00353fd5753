"""Benchmark: quality and size of int8 workers against their fp32 source.

Rows: the fp32 artifact, its post-training quantization (PTQ: the same weights written with
`save_artifact(..., int8=True)`, no training) and any QAT int8 artifacts given (`make qat`). For each:
held-out greedy tool-call accuracy (training.toolcall_eval.evaluate: tool name, exact arguments, JSON
validity, no-call turns), teacher-forced top-1 agreement with the fp32 model on held-out target tokens,
and the size of model.safetensors. Run by hand; results go to docs/distillation.md.

    python bench/bench_qat.py --fp32 artifacts/worker --int8 artifacts/worker_int8 \
        --data artifacts/data/contextual_extracted.jsonl --tokenizer artifacts/tokenizer --out /tmp/qat
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from modeling.checkpoint import WEIGHTS, load_artifact, save_artifact
from modeling.model import Transformer
from modeling.tokenizer import KSTokenizer
from training.sft_data import IGNORE, SFTData, collate
from training.toolcall_eval import evaluate


@torch.no_grad()
def top1_agreement(model: Transformer, reference: Transformer, data: SFTData, pad_id: int, samples: int) -> float:
    """Share of held-out target tokens where both models' argmax agree (teacher forcing)."""
    same = total = 0
    for ex in data.heldout[:samples]:
        x, y, _ = collate([ex], pad_id, len(ex.ids))
        keep = y != IGNORE
        same += int((model(x).argmax(-1)[keep] == reference(x).argmax(-1)[keep]).sum())
        total += int(keep.sum())
    return round(same / max(1, total), 4)


def row(name: str, art: Path, reference: Transformer, tok: KSTokenizer, data: SFTData, args: argparse.Namespace,
        fp32_bytes: int) -> dict[str, Any]:
    model, _ = load_artifact(art)
    size = (art / WEIGHTS).stat().st_size
    metrics = evaluate(model, tok, data.rows_heldout, data.tools, max_turns=args.turns)
    return {"model": name, **metrics, "top1_agree_fp32": top1_agreement(model, reference, data, tok.pad_id,
                                                                         args.agree_samples),
            "weights_bytes": size, "size_vs_fp32": round(size / fp32_bytes, 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fp32", type=Path, required=True, help="the float artifact")
    p.add_argument("--int8", type=Path, nargs="*", default=[], help="QAT int8 artifacts of the same model")
    p.add_argument("--data", type=Path, required=True, help="the extracted dataset (held-out split is evaluated)")
    p.add_argument("--tokenizer", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("/tmp/qat"), help="PTQ artifact and results.json go here")
    p.add_argument("--turns", type=int, default=200, help="held-out assistant turns decoded per model")
    p.add_argument("--agree-samples", type=int, default=40, help="held-out samples for top-1 agreement")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--rows", default="fp32,ptq,qat",
                   help="which rows to evaluate (comma-separated subset of fp32,ptq,qat), e.g. to split the work "
                        "over processes")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    reference, config = load_artifact(args.fp32)
    tok = KSTokenizer.load(args.tokenizer)
    data = SFTData.load(args.data, tok, config.model.max_seq_len)
    fp32_bytes = (args.fp32 / WEIGHTS).stat().st_size
    wanted = set(args.rows.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    ptq = args.out / "ptq_int8"
    if "ptq" in wanted:
        save_artifact(ptq, reference, config, tokenizer_dir=args.tokenizer, int8=True,
                      metrics={"source": str(args.fp32), "method": "post-training quantization"})
    named = [("fp32", "fp32", args.fp32), ("ptq", "ptq int8", ptq),
             *(("qat", f"qat int8 ({a.name})", a) for a in args.int8)]
    rows = [row(name, art, reference, tok, data, args, fp32_bytes) for kind, name, art in named if kind in wanted]
    (args.out / f"results-{'-'.join(sorted(wanted))}.json").write_text(json.dumps(rows, indent=2) + "\n")
    cols = ["model", "tool_name_acc", "exact_args_acc", "json_valid_rate", "no_call_acc", "call_turns",
            "top1_agree_fp32", "weights_bytes", "size_vs_fp32"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
