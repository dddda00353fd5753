"""Ablation: the toy worker trained by KD (top-k KL + CE on the teacher's text) vs by SFT only.

Same worker config (the KD config without its `kd` section for the SFT arm), same start (the
teacher pruned to the worker's width once, on the calibration rows the KD arm's own `--init-from` would
draw, so the KD arm starts exactly as the bootstrap's worker does and the SFT arm from the same weights),
same extracted dataset, same steps, same seed,
same held-out evaluation (tool-name accuracy, exact argument match,
integration F1 on the extracted dataset's held-out conversations). The teacher is evaluated the
same way, for the "worker keeps >= 90 % of the teacher's exact argument match" check. Optionally a
process-supervision stage (`--proc-config`) from the KD worker, reported before/after.

    python bench/bench_kd.py --data artifacts/data/contextual_extracted.jsonl --tokenizer artifacts/tokenizer \
        --teacher artifacts/teacher --out /tmp/kd/bench

The KD mix is built from the teacher (forced capture, k=20) unless `--kd-mix` names an existing one.
Results: a Markdown table on stdout and `<out>/results.json`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from modeling.checkpoint import load_artifact, save_artifact
from modeling.config import load_role_config, parse_role_config
from modeling.model import Transformer
from modeling.prune import prune
from modeling.tokenizer import KSTokenizer
from training.data.kd_mix import build_kd_mix
from training.kd_data import KDData
from training.sft_data import SFTData
from training.toolcall_eval import evaluate
from training.trainer import TrainJob, prune_calibration, train

METRICS = ("tool_name_acc", "exact_args_acc", "integration_f1", "json_valid_rate", "no_call_acc", "val_loss")


def _config(name: str, kd: bool, steps: int | None, seed: int | None = None) -> Any:
    data = load_role_config(name).model_dump(mode="json")
    if not kd:
        data["training"]["kd"] = None
    if seed is not None:
        data["training"]["seed"] = seed
    if steps is not None:
        t = data["training"]
        t["max_steps"], t["eval_every"] = steps, steps
        t["warmup_steps"] = min(t["warmup_steps"], steps // 10)
        t["seq_len"] = [{**s, "until_step": max(1, round(s["until_step"] * steps / t["seq_len"][-1]["until_step"]))}
                        for s in t["seq_len"]]
    return parse_role_config(data, name)


def _pruned_start(teacher: Transformer, cfg: Any, mix: Path, args: argparse.Namespace, tok: KSTokenizer) -> Path:
    """The teacher pruned to the worker's width on the KD arm's calibration rows (as `train` draws them
    for `--init-from`), saved as an artifact both arms start from (same architecture: copied)."""
    stream = KDData.load(mix, tok, max(s.seq_len for s in cfg.training.seq_len)).train
    start = prune(teacher, cfg.model, prune_calibration(stream, cfg.training, tok.pad_id))
    out = args.out / "start"
    save_artifact(out, start, cfg, tokenizer_dir=args.tokenizer)
    return out


def _run(name: str, cfg: Any, args: argparse.Namespace, out: Path, **kw: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    metrics = train(TrainJob(cfg, args.data, args.tokenizer, out / name, out / "checkpoints" / name, resume=False,
                             eval_turns=args.eval_turns, **kw))
    row = {k: metrics.get(k) for k in METRICS} | {"seconds": round(time.perf_counter() - t0, 1)}
    if "init_eval" in metrics:
        row["before"] = {k: metrics["init_eval"].get(k) for k in METRICS}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="extracted dataset (training for SFT, evaluation)")
    ap.add_argument("--tokenizer", type=Path, required=True)
    ap.add_argument("--teacher", type=Path, required=True, help="teacher artifact directory")
    ap.add_argument("--kd-mix", type=Path, default=None, help="existing KD mix (default: build <out>/kd_mix.jsonl)")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--config", default="worker_toy_kd", help="worker config with a kd section")
    ap.add_argument("--proc-config", default=None, help="also run this process-supervision stage from the KD worker")
    ap.add_argument("--steps", type=int, default=None, help="override max_steps (curriculum scaled)")
    ap.add_argument("--seed", type=int, default=None, help="override the config's seed (both arms and the pruning)")
    ap.add_argument("--eval-turns", type=int, default=400)
    ap.add_argument("--out", type=Path, default=Path("/tmp/kd/bench"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    tok = KSTokenizer.load(args.tokenizer)
    teacher, tcfg = load_artifact(args.teacher, role="teacher")
    data = SFTData.load(args.data, tok, teacher.config.max_seq_len)
    t0 = time.perf_counter()
    results: dict[str, Any] = {"teacher": evaluate(teacher, tok, data.rows_heldout, data.tools,
                                                   max_turns=args.eval_turns)}
    results["teacher"]["seconds"] = round(time.perf_counter() - t0, 1)
    mix = args.kd_mix or args.out / "kd_mix.jsonl"
    if args.kd_mix is None:
        t0 = time.perf_counter()
        window = max(s.seq_len for s in load_role_config(args.config).training.seq_len)
        report = build_kd_mix(f"local:{args.teacher}", args.data, args.tokenizer, mix, k=args.k, capture="forced",
                              teacher_dtype="bfloat16", max_len=window)
        results["kd_mix"] = {"seconds": round(time.perf_counter() - t0, 1), "items": report["items"]}
    start = _pruned_start(teacher, _config(args.config, True, args.steps, args.seed), mix, args, tok)
    results["sft"] = _run("sft", _config(args.config, False, args.steps, args.seed), args, args.out, init_from=start)
    results["kd"] = _run("kd", _config(args.config, True, args.steps, args.seed), args, args.out, kd_data=mix,
                         init_from=start)
    if args.proc_config:
        results["proc"] = _run("proc", load_role_config(args.proc_config), args, args.out, kd_data=mix,
                               init_from=args.out / "kd")
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    print(f"teacher {tcfg.role} d_model={tcfg.model.d_model}; worker {args.config}, steps "
          f"{args.steps or load_role_config(args.config).training.max_steps}, held-out turns {args.eval_turns}\n")
    print("| run | tool-name acc | exact args | integration F1 | JSON valid | no-call acc | val loss | s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("teacher", "sft", "kd", "proc"):
        if name in results:
            r = results[name]
            print(f"| {name} | " + " | ".join(str(r.get(k, "")) for k in METRICS) + f" | {r['seconds']} |")
    if "proc" in results:
        b = results["proc"]["before"]
        print("| proc (before) | " + " | ".join(str(b.get(k, "")) for k in METRICS) + " | |")
    t_args = results["teacher"]["exact_args_acc"]
    if t_args:
        print(f"\nKD worker keeps {results['kd']['exact_args_acc'] / t_args:.0%} of the teacher's exact argument "
              f"match (SFT: {results['sft']['exact_args_acc'] / t_args:.0%})")


if __name__ == "__main__":
    main()
