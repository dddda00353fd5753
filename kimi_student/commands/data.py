"""`kimi-student data ...`: generate, extract, verify and merge the contextual tool-use dataset."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kimi_student.cli import CommandError
from kimi_student.commands.judge_cli import register_judge_pairs
from kimi_student.commands.kd_mix import register_kd_mix


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="contextual tool-use dataset pipeline").add_subparsers(metavar="STEP")

    gen = data.add_parser("gen", help="generate samples (and tool fixtures) from the simulated world")
    gen.add_argument("--out", type=Path, required=True, help="output JSONL")
    gen.add_argument("--total", type=int, default=300, help="size of the global sample space")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--world-seed", type=int, default=0, help="seed of the simulated world (fixes tool results)")
    gen.add_argument("--num-shards", type=int, default=1)
    gen.add_argument("--shard-index", type=int, default=0)
    gen.add_argument("--fixtures", type=Path, default=None, help="fixture directory (default: OUT's dir/fixtures)")
    gen.set_defaults(func=_gen)

    ext = data.add_parser("extract", help="add byte and token spans of tool names, arguments and integrations")
    ext.add_argument("--in", dest="inp", type=Path, required=True)
    ext.add_argument("--out", type=Path, required=True)
    ext.add_argument("--tokenizer", type=Path, default=Path("artifacts/tokenizer"), help="tokenizer directory")
    ext.set_defaults(func=_extract)

    ver = data.add_parser("verify", help="check every item and write a gate report (exit 1 on a failed gate)")
    ver.add_argument("--in", dest="inp", type=Path, required=True)
    ver.add_argument("--report", type=Path, required=True)
    ver.add_argument("--tokenizer", type=Path, default=None, help="override the tokenizer dir named in the header")
    ver.add_argument("--no-plot", dest="plot", action="store_false", help="skip the PNG beside the report")
    ver.set_defaults(func=_verify)

    mrg = data.add_parser("merge", help="merge generator shards into one dataset")
    mrg.add_argument("--out", type=Path, required=True)
    mrg.add_argument("shards", type=Path, nargs="+")
    mrg.set_defaults(func=_merge)

    register_judge_pairs(data)
    register_kd_mix(data)


def _guard(fn):
    """Turn data and tokenizer errors into a one-line CLI error."""
    from modeling.tokenizer import TokenizerError
    from training.data.jsonl import DataError

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (DataError, TokenizerError, ValueError) as exc:
            raise CommandError(str(exc)) from None

    return wrapped


def _print(obj: dict) -> None:
    print(json.dumps(obj, indent=2))


@_guard
def _gen(args: argparse.Namespace) -> int:
    from training.data.generate import run

    _print(run(args.out, args.total, args.seed, args.num_shards, args.shard_index, args.world_seed,
               args.fixtures, progress=sys.stderr.isatty()))
    return 0


@_guard
def _extract(args: argparse.Namespace) -> int:
    from training.data.extract import run

    _print(run(args.inp, args.out, args.tokenizer, progress=sys.stderr.isatty()))
    return 0


@_guard
def _verify(args: argparse.Namespace) -> int:
    from training.data.gates import run

    report, code = run(args.inp, args.report, args.tokenizer, progress=sys.stderr.isatty(), plot=args.plot)
    for g in report["gates"]:
        value = f"{g['value']:.4f}" if isinstance(g["value"], float) else str(g["value"])
        warn = "" if g["hard"] else " (warn)"
        print(f"{g['status']:<12} {g['gate']:<34} {value:>10} {g['op']} {g['threshold']}{warn}")
    print(f"report: {args.report} ({report['summary']['n']} items, {report['perf']['seconds']} s)")
    if "plot" in report:
        print(f"plot: {report['plot']}")
    return code


@_guard
def _merge(args: argparse.Namespace) -> int:
    from training.data.shards import merge

    _print(merge(args.out, args.shards))
    return 0
