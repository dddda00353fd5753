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
    describe.add_argument(
        "configs", nargs="+", metavar="CONFIG", help="role config YAML path or name in configs/ (e.g. worker_9b)"
    )
    out = describe.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the report as JSON (a list for several)")
    out.add_argument("--markdown", action="store_true", help="print one table row per config (docs/models.md)")
    describe.add_argument("--packages", action="store_true",
                          help="also report the expected Core ML (int8) and ONNX (fp32) export sizes")
    describe.set_defaults(func=_describe)


def _describe(args: argparse.Namespace) -> int:
    from kimi_student.cli import CommandError
    from modeling.config import ConfigError, load_role_config, resolve_config_path
    from modeling.describe import MARKDOWN_HEADER, describe, format_report, markdown_row

    try:
        reports = [describe(load_role_config(c), resolve_config_path(c).stem) for c in args.configs]
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    if args.packages:
        from conversion.sizes import package_sizes

        for report, c in zip(reports, args.configs, strict=True):
            report["packages"] = package_sizes(load_role_config(c))
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2))
    elif args.markdown:
        print("\n".join([MARKDOWN_HEADER, *map(markdown_row, reports)]))
    else:
        print("\n\n".join(_with_packages(format_report(r), r) for r in reports))
    return 0


def _with_packages(text: str, report: dict) -> str:
    if "packages" not in report:
        return text
    from conversion.sizes import format_sizes

    return text + "\n" + format_sizes(report["name"], report["packages"])
