"""`kimi-student caws ...`: the CAWS arbiter offline (validate-spec, adjudicate, claimify, eval, verify-chain).

Exit codes: adjudicate 0 PASS, 1 FAIL, 2 WAIVER_REQUIRED; every command 3 on invalid input
(malformed YAML/JSON, a non-diff, wrong types, unknown keys), with each error's field path on
stderr. Usage errors also exit 3, so 2 always means WAIVER_REQUIRED here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

EXIT_BY_STATUS = {"PASS": 0, "FAIL": 1, "WAIVER_REQUIRED": 2}
EXIT_INVALID = 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


def register(sub: argparse._SubParsersAction) -> None:
    caws = sub.add_parser("caws", help="CAWS arbiter: specs, verdicts, claims")
    steps = caws.add_subparsers(metavar="STEP", parser_class=_Parser)

    validate = steps.add_parser("validate-spec", help="validate a working spec (YAML or JSON)")
    validate.add_argument("file", type=Path)
    validate.set_defaults(func=_validate_spec)

    adjudicate = steps.add_parser("adjudicate", help="decide one plea; prints the verdict JSON")
    adjudicate.add_argument("--spec", type=Path, required=True, help="working spec, YAML or JSON")
    adjudicate.add_argument("--diff", type=Path, required=True, help="unified diff of the change")
    adjudicate.add_argument("--rationale", type=Path, help="rationale text (absent: none submitted)")
    adjudicate.add_argument("--evidence", type=Path, help="evidence manifest JSON (absent: none submitted)")
    adjudicate.add_argument("--gates", type=Path, help="gate results JSON (absent: none submitted)")
    adjudicate.add_argument("--waivers", type=Path, help="list of waivers, JSON or YAML")
    adjudicate.add_argument("--now", help="ISO-8601 time with zone (default: the current time)")
    adjudicate.add_argument("--change-id", help="change id (default: the spec id)")
    adjudicate.add_argument("--chain", type=Path, help="provenance chain JSONL to append the verdict to")
    adjudicate.add_argument("--policy", type=Path, help="CAWS policy (default: configs/caws/policy.yaml)")
    adjudicate.set_defaults(func=_adjudicate)

    claimify = steps.add_parser("claimify", help="extract (and verify) claims; prints the claimify JSON")
    source = claimify.add_mutually_exclusive_group(required=True)
    source.add_argument("--text")
    source.add_argument("--file", type=Path)
    claimify.add_argument("--evidence", type=Path, help="evidence manifest JSON to verify claims against")
    claimify.add_argument("--context", type=Path, help="context JSON: prior_text, change, references")
    claimify.add_argument("--change", help="what 'this change' refers to, e.g. 'change FEAT-42' (sets context.change)")
    claimify.add_argument("--policy", type=Path)
    claimify.set_defaults(func=_claimify)

    evaluate = steps.add_parser("eval", help="adjudicate a directory of labelled cases; report agreement")
    evaluate.add_argument("--cases", type=Path, default=Path("configs/caws/examples"))
    evaluate.add_argument("--min-agreement", type=float, default=1.0, help="exit 1 below this (default 1.0)")
    evaluate.add_argument("--policy", type=Path)
    evaluate.set_defaults(func=_eval)

    chain = steps.add_parser("verify-chain", help="verify a provenance chain JSONL")
    chain.add_argument("chain", type=Path)
    chain.set_defaults(func=_verify_chain)


def _invalid(errors: Any) -> int:
    for error in errors:
        print(f"kimi-student caws: invalid input: {error}", file=sys.stderr)
    return EXIT_INVALID


def _emit(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _policy(path: Path | None) -> Any:
    from arbiter.loaders import read_policy

    return read_policy(path)


def _validate_spec(args: argparse.Namespace) -> int:
    from arbiter.cases import read_spec
    from arbiter.result import Err

    spec = read_spec(args.file)
    if isinstance(spec, Err):
        _emit({"valid": False, "errors": [e.to_dict() for e in spec.errors]})
        return _invalid(spec.errors)
    _emit({"valid": True, "id": spec.value.id, "risk_tier": spec.value.risk_tier, "sha256": spec.value.sha256})
    return 0


def _adjudicate(args: argparse.Namespace) -> int:
    from arbiter.cases import PleaFiles, read_plea, read_spec, read_waivers
    from arbiter.codec import parse_time
    from arbiter.result import Err
    from arbiter.verdict import adjudicate

    policy, spec = _policy(args.policy), read_spec(args.spec)
    waivers = read_waivers(args.waivers)
    now = parse_time(args.now, "--now") if args.now else None
    spec_id = spec.value.id if not isinstance(spec, Err) else "primary"
    plea = read_plea(PleaFiles(args.change_id or spec_id, args.diff, args.rationale, args.evidence, args.gates))
    errors = [d for r in (policy, spec, waivers, now, plea) if isinstance(r, Err) for d in r.errors]
    if errors:
        return _invalid(errors)
    verdict = adjudicate(spec.value, [plea.value], change_id=args.change_id or spec_id, path="$",
                         now=now.value if now else _utc_now(), policy=policy.value, waivers=waivers.value)
    if isinstance(verdict, Err):
        return _invalid(verdict.errors)
    record = verdict.value
    if args.chain:
        record = _append_to_chain(args.chain, record)
    _emit(record)
    return EXIT_BY_STATUS[record["status"]]


def _utc_now() -> dt.datetime:
    """The wall clock, read here at the edge for the default `--now`; the arbiter core never reads it."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _append_to_chain(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    from arbiter.provenance import append, seal

    chain = _read_chain(path)
    entry = append(chain, record)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
    return seal(record, entry)


def _read_chain(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _claimify(args: argparse.Namespace) -> int:
    from arbiter.claims import claimify
    from arbiter.loaders import read_structured, read_text
    from arbiter.result import Err, Ok

    policy = _policy(args.policy)
    text = read_text(args.file, "claimify") if args.file else Ok(args.text)
    evidence = read_structured(args.evidence, "evidence_manifest") if args.evidence else Ok(None)
    context = read_structured(args.context, "claimify_context") if args.context else Ok(None)
    errors = [d for r in (policy, text, evidence, context) if isinstance(r, Err) for d in r.errors]
    if errors:
        return _invalid(errors)
    ctx = context.value
    if args.change:
        ctx = {**(ctx if isinstance(ctx, dict) else {}), "change": args.change}
    result = claimify(text.value, policy=policy.value.claims, context=ctx, evidence_manifest=evidence.value)
    if isinstance(result, Err):
        return _invalid(result.errors)
    _emit(result.value)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from arbiter.cases import agreement
    from arbiter.result import Err

    policy = _policy(args.policy)
    if isinstance(policy, Err):
        return _invalid(policy.errors)
    report = agreement(args.cases, policy.value)
    if isinstance(report, Err):
        return _invalid(report.errors)
    _emit(report.value)
    return 0 if report.value["agreement"] >= args.min_agreement else 1


def _verify_chain(args: argparse.Namespace) -> int:
    from arbiter.provenance import verify

    try:
        chain = _read_chain(args.chain)
    except (OSError, json.JSONDecodeError) as exc:
        return _invalid([f"{args.chain}: {exc}"])
    report = verify(chain).to_dict()
    _emit(report)
    return 0 if report["ok"] else 1
