"""`kimi-student data kd-mix`: teacher completions and top-k logprobs per assistant turn (docs/distillation.md)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from kimi_student.cli import CommandError


def register_kd_mix(data: argparse._SubParsersAction) -> None:
    kd = data.add_parser("kd-mix", help="distillation data: teacher turns with top-k logprobs (resumable)")
    kd.add_argument("--teacher", required=True, help="local:ARTIFACT_DIR or http(s)://HOST[:PORT][/v1][#MODEL]")
    kd.add_argument("--teacher-model", default=None, help="model name for an HTTP teacher (default: from /v1/models)")
    kd.add_argument("--data", type=Path, required=True, help="extracted contextual dataset (JSONL)")
    kd.add_argument("--tokenizer", type=Path, default=Path("artifacts/tokenizer"), help="the student's tokenizer dir")
    kd.add_argument("--out", type=Path, required=True, help="output JSONL; an existing compatible file is resumed")
    kd.add_argument("--k", type=int, default=20, help="top-k logprobs per target token (<= 20)")
    kd.add_argument("--temperature", type=float, default=1.0, help="temperature of the stored teacher distributions")
    kd.add_argument("--sampling-temperature", type=float, default=None,
                    help="temperature the teacher generates at (generated capture; default --temperature, 0 = greedy)")
    kd.add_argument("--capture", choices=("forced", "generated"), default=None,
                    help="forced: score the dataset's turns (local teacher, same tokenizer; the default there); "
                         "generated: the teacher writes each turn")
    kd.add_argument("--max-tokens", type=int, default=512, help="longest generated turn; longer ones are truncated")
    kd.add_argument("--concurrency", type=int, default=4, help="parallel HTTP requests")
    kd.add_argument("--rpm", type=int, default=None, help="client-side requests per minute")
    kd.add_argument("--tpm", type=int, default=None, help="client-side tokens per minute")
    kd.add_argument("--budget-tokens", type=int, default=None, help="stop requesting after this many tokens")
    kd.add_argument("--budget-usd", type=float, default=None, help="stop requesting after this spend")
    kd.add_argument("--price-in", type=float, default=0.0, help="USD per million prompt tokens (for the spend)")
    kd.add_argument("--price-out", type=float, default=0.0, help="USD per million completion tokens")
    kd.add_argument("--cache", type=Path, default=None, help="response cache directory (sha256 of each request)")
    kd.add_argument("--include-heldout", action="store_true", help="also use the held-out evaluation samples")
    kd.add_argument("--limit", type=int, default=None, help="use at most N samples")
    kd.add_argument("--keep-all", action="store_true",
                    help="(generated, local teacher) store every turn as written, cut-off ones included: "
                         "on-policy data for a drafter")
    kd.add_argument("--max-len", type=int, default=None,
                    help="skip turns that start past this many tokens (the student's longest training sequence)")
    kd.add_argument("--teacher-dtype", choices=("float32", "bfloat16"), default="float32",
                    help="precision of a local teacher (bfloat16: faster forced capture on CPUs with bf16 units)")
    kd.add_argument("--timeout", type=float, default=120.0, help="seconds per HTTP request")
    kd.add_argument("--max-retries", type=int, default=5, help="retries of 429 / 5xx / timeouts per request")
    kd.set_defaults(func=_kd_mix)


def _kd_mix(args: argparse.Namespace) -> int:
    from modeling.checkpoint import ArtifactError
    from modeling.tokenizer import TokenizerError
    from training.data.jsonl import DataError
    from training.data.kd_mix import build_kd_mix, stderr_is_tty
    from training.teachers import TeacherError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        report = build_kd_mix(
            args.teacher, args.data, args.tokenizer, args.out, k=args.k, temperature=args.temperature,
            sampling_temperature=args.sampling_temperature, capture=args.capture, teacher_model=args.teacher_model,
            max_tokens=args.max_tokens, concurrency=args.concurrency, rpm=args.rpm, tpm=args.tpm,
            budget_tokens=args.budget_tokens, budget_usd=args.budget_usd, price_in=args.price_in,
            price_out=args.price_out, cache=args.cache, include_heldout=args.include_heldout, limit=args.limit,
            progress=stderr_is_tty(), timeout=args.timeout, max_retries=args.max_retries,
            teacher_dtype=args.teacher_dtype, max_len=args.max_len, keep_all=args.keep_all,
        )
    except (DataError, TokenizerError, ArtifactError, TeacherError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    summary = {k: report[k] for k in ("out", "teacher", "mode", "capture", "k", "items", "reasons", "warnings",
                                      "aborted", "seconds")}
    print(json.dumps(summary, indent=2))
    print(f"report: {args.out}.report.json", file=sys.stderr)
    items = report["items"]
    return 1 if report["aborted"] or (items["total"] and not items["ok"] + items["resumed"]) else 0
