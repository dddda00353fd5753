"""`kimi-student models ...`: inspect role configs without building real weights."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("models", help="inspect model configs")
    sub = group.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    describe = sub.add_parser(
        "describe",
        help="exact parameter count, KV bytes per token and memory per context length",
        description="Build the model on the meta device (no memory) and report its exact size.",
    )
    describe.add_argument("config", help="role config YAML path or name in configs/ (e.g. worker_9b)")
    describe.add_argument("--json", action="store_true", help="print the report as JSON")
    describe.set_defaults(func=_describe)


def _describe(args: argparse.Namespace) -> int:
    from kimi_student.cli import CommandError
    from modeling.config import ConfigError, load_role_config, resolve_config_path
    from modeling.describe import describe, format_report

    try:
        config = load_role_config(args.config)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    report = describe(config, resolve_config_path(args.config).stem)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
