"""`kimi-student tokenizer train`: byte-level BPE on the project's own corpus."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kimi_student.cli import CommandError


def register(sub: argparse._SubParsersAction) -> None:
    tok = sub.add_parser("tokenizer", help="train the shared tokenizer").add_subparsers(metavar="STEP")
    train = tok.add_parser("train", help="train a byte-level BPE on a generated dataset")
    train.add_argument("--in", dest="inp", type=Path, required=True, action="append",
                       help="dataset JSONL (repeatable)")
    train.add_argument("--out", type=Path, default=Path("artifacts/tokenizer"))
    size = train.add_mutually_exclusive_group()
    size.add_argument("--profile", choices=["tiny", "toy", "real"], default="toy")
    size.add_argument("--vocab-size", type=int)
    size.add_argument("--config", type=Path, help="role config whose model.vocab_size to use")
    train.set_defaults(func=_train)


def _vocab_size(args: argparse.Namespace) -> int:
    from modeling.tokenizer import VOCAB_SIZES

    if args.vocab_size:
        return args.vocab_size
    if args.config:
        import yaml

        try:
            return int(yaml.safe_load(args.config.read_text())["model"]["vocab_size"])
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise CommandError(f"{args.config}: cannot read model.vocab_size ({exc})") from None
    return VOCAB_SIZES[args.profile]


def _train(args: argparse.Namespace) -> int:
    from modeling.tokenizer import TokenizerError, save_tokenizer, train_tokenizer
    from training.data.jsonl import DataError, iter_rows, read_header

    vocab = _vocab_size(args)

    def texts():
        for path in args.inp:
            read_header(path)
            for _, row in iter_rows(path):
                yield row.get("prompt_text", "") + row.get("teacher_text", "")

    try:
        sha = save_tokenizer(train_tokenizer(texts(), vocab), args.out)
    except (DataError, TokenizerError) as exc:
        raise CommandError(str(exc)) from None
    print(json.dumps({"out": str(args.out), "vocab_size": vocab, "sha256": sha}, indent=2))
    return 0
