"""`kimi-student train ROLE`: train a role from its config on an extracted contextual dataset."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kimi_student.cli import CommandError
from kimi_student.commands.judge_cli import add_judge_train_options, train_judge_command


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a role (SFT on the contextual dataset)")
    p.add_argument("role", choices=["teacher", "worker", "drafter", "judge"])
    p.add_argument("--config", required=True, help="role config name (worker_toy) or YAML path")
    p.add_argument("--data", type=Path, default=Path("data/contextual_extracted.jsonl"), help="extracted dataset")
    p.add_argument("--tokenizer", type=Path, default=Path("artifacts/tokenizer"))
    p.add_argument("--out", type=Path, default=None, help="artifact directory (default artifacts/<role>)")
    p.add_argument("--checkpoints", type=Path, default=None, help="default <out>/../checkpoints/<role>")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="ignore existing checkpoints")
    p.add_argument("--force", action="store_true", help="resume even though the dataset changed")
    p.add_argument("--eval-turns", type=int, default=120, help="held-out assistant turns decoded per evaluation")
    p.add_argument("--init-from", type=Path, default=None,
                   help="start from this artifact's weights (same tokenizer; the same model config, or a larger "
                        "one with more SwiGLU units, pruned to this one)")
    add_judge_train_options(p)
    p.add_argument("--kd-data", type=Path, default=None,
                   help="KD mix to distil from (training stream; --data stays the evaluation set); needs training.kd")
    p.add_argument("--worker", type=Path, default=None,
                   help="(drafter) the worker artifact it drafts for: evaluations report speculative acceptance "
                        "(alpha, expected tokens per step at gamma 3/4/5) on the worker's held-out trajectories")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    if args.role == "judge":
        return train_judge_command(args)
    from modeling.checkpoint import ArtifactError
    from modeling.config import ConfigError, load_role_config
    from modeling.tokenizer import TokenizerError
    from training.checkpoints import CheckpointError
    from training.data.jsonl import DataError
    from training.trainer import TrainJob, train

    try:
        cfg = load_role_config(args.config)
        if cfg.role != args.role:
            raise CommandError(f"{args.config} is a {cfg.role} config, not a {args.role} config")
        job = TrainJob(cfg, args.data, args.tokenizer, args.out or Path("artifacts") / args.role, args.checkpoints,
                       args.resume, args.force, args.eval_turns, progress=sys.stderr.isatty(), init_from=args.init_from,
                       kd_data=args.kd_data, draft_for=args.worker)
        metrics = train(job)
    except (ConfigError, TokenizerError, DataError, CheckpointError, ArtifactError) as exc:
        raise CommandError(str(exc)) from None
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one report
        print(json.dumps({k: v for k, v in metrics.items() if k != "history"}, indent=2))
    return 0
