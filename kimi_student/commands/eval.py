"""`kimi-student eval`: multi-turn tool-use evaluation against an endpoint or a checkpoint; `eval diff A B`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kimi_student.cli import CommandError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate tool use over HTTP or from a checkpoint; `eval diff A B`",
                       description="Replay a contextual dataset: the model's tool calls are answered from "
                                   "fixtures and fed back until it answers. Exit 1 when a gate fails.")
    p.add_argument("--runner", choices=["openai", "local"], default="openai")
    p.add_argument("--base-url", default="http://127.0.0.1:8000/v1", help="OpenAI-compatible API root")
    p.add_argument("--model", default="worker", help="model name sent to the endpoint")
    p.add_argument("--api-key", default=os.environ.get("KS_API_KEY"),
                   help="bearer key (default: $KS_API_KEY; `kimi-student serve` needs one with scope chat)")
    p.add_argument("--checkpoint", type=Path, help="artifact directory for --runner local")
    p.add_argument("--in", dest="input", type=Path, help="contextual dataset JSONL")
    p.add_argument("--out", type=Path, help="per-item results JSONL")
    p.add_argument("--report", type=Path, help="report JSON")
    p.add_argument("--html", type=Path, help="HTML report (default: the report path with .html)")
    p.add_argument("--fixtures", type=Path, help="tool fixtures directory (default: <dataset dir>/fixtures)")
    p.add_argument("--tools", choices=["all", "registry"], default="all",
                   help="tools the model sees: the dataset's whole list, or the live registry")
    p.add_argument("--split", choices=["all", "heldout", "train"], default="all",
                   help="items by the trainer's held-out hash (10 %%)")
    p.add_argument("--limit", type=int, help="evaluate only the first N selected items")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--max-tokens", type=int, default=256, help="per model turn")
    p.add_argument("--max-turns", type=int, default=6, help="model turns per item")
    p.add_argument("--retries", type=int, default=3, help="per request, on connection errors, 429 and 5xx")
    p.add_argument("--no-stream", action="store_true", help="non-streamed requests (no TTFT)")
    p.add_argument("--num-shards", type=int, default=1)
    p.add_argument("--shard-index", type=int, default=0)
    p.add_argument("--fail-on-gates", action=argparse.BooleanOptionalAction, default=True)
    p.set_defaults(func=_eval)
    diff = p.add_subparsers(dest="eval_command", metavar="diff").add_parser(
        "diff", help="compare two reports (B minus A)")
    diff.add_argument("a", type=Path)
    diff.add_argument("b", type=Path)
    diff.set_defaults(func=_diff)


def _diff(args: argparse.Namespace) -> int:
    from evaluation.report import diff

    try:
        a, b = (json.loads(p.read_text()) for p in (args.a, args.b))
    except (OSError, json.JSONDecodeError) as exc:
        raise CommandError(f"cannot read report: {exc}") from None
    print(json.dumps(diff(a, b), indent=2))
    return 0


def _runner(args: argparse.Namespace):
    from evaluation.runners.openai_http import OpenAIHTTPRunner

    if args.runner == "openai":
        return OpenAIHTTPRunner(args.base_url, args.model, args.api_key, stream=not args.no_stream,
                                retries=args.retries), {"runner": "openai", "model": args.model,
                                                        "base_url": args.base_url}
    from evaluation.runners.local import LocalRunner
    from modeling.checkpoint import ArtifactError
    from modeling.tokenizer import TokenizerError

    if args.checkpoint is None:
        raise CommandError("--runner local needs --checkpoint DIR")
    if args.temperature != 0:
        raise CommandError("--runner local decodes greedily: use --temperature 0")
    try:
        runner = LocalRunner(args.checkpoint)
    except (ArtifactError, TokenizerError, OSError) as exc:
        raise CommandError(str(exc)) from None
    args.concurrency = 1  # one model, one KV cache
    return runner, {"runner": "local", "model": str(args.checkpoint)}


def _eval(args: argparse.Namespace) -> int:
    from evaluation.harness import EvalConfig, run
    from evaluation.runners.base import Decoding
    from training.data.jsonl import DataError
    from training.data.tools import default_registry

    missing = [f"--{n}" for n in ("in", "out", "report") if getattr(args, "input" if n == "in" else n) is None]
    if missing:
        raise CommandError(f"missing {', '.join(missing)}")
    runner, describe = _runner(args)
    cfg = EvalConfig(
        input=args.input, out=args.out, report=args.report,
        fixtures=args.fixtures or args.input.parent / "fixtures",
        html=args.html or args.report.with_suffix(".html"), tools=args.tools, split=args.split,
        num_shards=args.num_shards, shard_index=args.shard_index, limit=args.limit, max_turns=args.max_turns,
        concurrency=args.concurrency, decoding=Decoding(args.temperature, args.seed, args.max_tokens),
        describe=describe)
    try:
        report = run(cfg, runner, default_registry(), progress=sys.stderr.isatty())
    except (DataError, FileNotFoundError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        if hasattr(runner, "close"):
            runner.close()
    print(json.dumps({"summary": report["summary"], "gates": {g["gate"]: g["status"] for g in report["gates"]},
                      "speed": report["speed"], "out": str(args.out), "report": str(args.report)}, indent=2))
    return 1 if args.fail_on_gates and not report["gates_ok"] else 0
