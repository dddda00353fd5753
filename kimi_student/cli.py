"""The `kimi-student` console script: one argparse tree, one module per command group.

Each module in `kimi_student.commands` exposes `register(subparsers)`, which adds its group and sets
`func` on every leaf parser. Heavy imports (torch, tokenizers) happen inside the handlers, so
`kimi-student --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from kimi_student import __version__

# Command groups, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = ("data", "tokenizer", "models", "caws", "train", "bootstrap", "serve", "export",
                                    "eval", "db", "keys")


class CommandError(Exception):
    """A user-facing failure: printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kimi-student", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kimi-student {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"kimi_student.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"kimi-student: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
