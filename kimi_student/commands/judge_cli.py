"""Judge commands: `kimi-student data judge-pairs` and the judge branch of `kimi-student train judge`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kimi_student.cli import CommandError

DEFAULT_PAIRS = Path("data/judge_pairs")


def register_judge_pairs(data: argparse._SubParsersAction) -> None:
    jp = data.add_parser("judge-pairs", help="Judge pairs from synthesised CAWS scenarios, labelled by the arbiter")
    jp.add_argument("--out", type=Path, default=DEFAULT_PAIRS, help="output directory (train/val/test.jsonl)")
    jp.add_argument("--scenarios", type=int, default=1500, help="scenarios (2 pairs each, both orders)")
    jp.add_argument("--seed", type=int, default=0)
    jp.add_argument("--policy", type=Path, default=None, help="CAWS policy (default configs/caws/policy.yaml)")
    jp.set_defaults(func=_judge_pairs)


def _judge_pairs(args: argparse.Namespace) -> int:
    from training.judge.pairs import run

    if args.scenarios < 10:
        raise CommandError("--scenarios must be at least 10 (each split needs scenarios of every tier)")
    try:
        summary = run(args.out, args.scenarios, args.seed, progress=sys.stderr.isatty(), policy_path=args.policy)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(json.dumps(summary, indent=2))
    return 0


def add_judge_train_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("judge (train judge)")
    g.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS, help="judge pairs directory (train/val/test.jsonl)")
    g.add_argument("--loss", choices=["bt", "margin"], default="bt", help="Bradley-Terry or margin ranking loss")
    g.add_argument("--margin", type=float, default=1.0, help="margin of the margin ranking loss")
    g.add_argument("--w-rank", type=float, default=1.0, help="weight of the ranking loss")
    g.add_argument("--w-tie", type=float, default=0.5,
                   help="weight of the tie term softplus(d) + softplus(-d) - 2 log 2, d = s_a - s_b")
    g.add_argument("--w-clause", type=float, default=1.0, help="weight of the clause BCE")


def train_judge_command(args: argparse.Namespace) -> int:
    from modeling.checkpoint import ArtifactError
    from modeling.config import ConfigError, load_role_config
    from modeling.tokenizer import TokenizerError
    from training.data.jsonl import DataError
    from training.judge.trainer import JudgeJob, JudgeOptions, train_job

    try:
        cfg = load_role_config(args.config)
        if cfg.role != "judge":
            raise CommandError(f"{args.config} is a {cfg.role} config, not a judge config")
        options = JudgeOptions(args.loss, args.margin, args.w_rank, args.w_tie, args.w_clause)
        job = JudgeJob(cfg, args.pairs, args.tokenizer, args.out or Path("artifacts/judge"), options,
                       progress=sys.stderr.isatty())
        metrics = train_job(job)
    except (ConfigError, TokenizerError, DataError, ArtifactError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    print(json.dumps(metrics, indent=2))
    return 0
