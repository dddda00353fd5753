"""`kimi-student bootstrap`: build the toy (or tiny) portfolio from nothing, idempotently."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kimi_student.cli import CommandError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bootstrap", help="data -> tokenizer -> teacher -> worker into an artifacts directory")
    p.add_argument("--profile", choices=["tiny", "toy"], default="toy")
    p.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    p.set_defaults(func=_bootstrap)


def _bootstrap(args: argparse.Namespace) -> int:
    from modeling.checkpoint import ArtifactError
    from modeling.config import ConfigError
    from modeling.tokenizer import TokenizerError
    from training.bootstrap import BootstrapError, bootstrap
    from training.checkpoints import CheckpointError

    try:
        summary = bootstrap(args.artifacts, args.profile, progress=sys.stderr.isatty())
    except (BootstrapError, ConfigError, TokenizerError, CheckpointError, ArtifactError) as exc:
        raise CommandError(str(exc)) from None
    print(json.dumps(summary, indent=2))
    return 0
