"""`kimi-student export ...`: ONNX and Core ML packages of an artifact, and the probes that check them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("export", help="export artifacts to ONNX or Core ML and probe the packages")
    actions = group.add_subparsers(dest="export_command", metavar="ACTION", required=True)
    onnx = actions.add_parser(
        "onnx", help="prefill + decode graphs (and the judge heads) with a parity check and a contract",
        description="Verify the artifact, export opset-18 ONNX graphs, check onnxruntime against torch "
                    "(max abs logit error <= 1e-3) and write contract.json.",
    )
    onnx.add_argument("--artifact", type=Path, required=True, help="artifact directory (worker, drafter or judge)")
    onnx.add_argument("--out", type=Path, help="output directory (default: <artifacts>/onnx/<name>)")
    onnx.add_argument("--no-parity", action="store_true", help="skip the onnxruntime parity check")
    onnx.set_defaults(func=_onnx)
    coreml = actions.add_parser(
        "coreml", help="INT8-weight, FP16-compute mlprogram package (stateful multifunction, or the judge)",
        description="Verify the artifact and write model.mlpackage (minimum macOS 15 / iOS 18) and contract.json: "
                    "Worker and Drafter with the KV cache as state, one function per context length; the Judge "
                    "with enumerated input lengths 512/1024/2048.",
    )
    coreml.add_argument("--artifact", type=Path, required=True, help="artifact directory (worker, drafter or judge)")
    coreml.add_argument("--out", type=Path, help="output directory (default: <artifacts>/coreml/<name>)")
    coreml.add_argument("--lengths", default="512,1024,2048",
                        help="context lengths of the stateful functions (default 512,1024,2048; capped at max_seq_len)")
    coreml.set_defaults(func=_coreml)
    probes = actions.add_parser(
        "probes", help="check exports against their contracts (Core ML predictions on macOS only)",
        description="Run the spec checks of every export under ROOT/onnx/* and ROOT/coreml/* (or of one export "
                    "directory); exit status 1 when a check fails. Skipped checks print their reason.",
    )
    probes.add_argument("--root", type=Path, default=Path("artifacts"), help="artifacts directory or one export")
    probes.add_argument("--json", action="store_true", help="print the full report as JSON")
    probes.set_defaults(func=_probes)


def _onnx(args: argparse.Namespace) -> int:
    from conversion.onnx_export import default_out_dir, export_onnx
    from conversion.source import ConversionError
    from kimi_student.cli import CommandError

    out = args.out or default_out_dir(args.artifact)
    try:
        contract = export_onnx(args.artifact, out, check_parity=not args.no_parity)
    except ConversionError as exc:
        raise CommandError(str(exc)) from None
    summary = {"out": str(out), "graphs": sorted(contract["graphs"]), "parity": contract.get("parity"),
               "export_seconds": contract["export_seconds"]}
    print(json.dumps(summary, indent=2))
    return 0


def _coreml(args: argparse.Namespace) -> int:
    from conversion.coreml_export import default_out_dir, export_coreml
    from conversion.source import ConversionError
    from kimi_student.cli import CommandError

    out = args.out or default_out_dir(args.artifact)
    try:
        lengths = tuple(int(n) for n in args.lengths.split(","))
    except ValueError:
        raise CommandError(f"--lengths must be comma-separated integers, got {args.lengths!r}") from None
    try:
        contract = export_coreml(args.artifact, out, lengths=lengths)
    except ConversionError as exc:
        raise CommandError(str(exc)) from None
    print(json.dumps({"out": str(out), "functions": sorted(contract["functions"]),
                      "export_seconds": contract["export_seconds"]}, indent=2))
    return 0


def _probes(args: argparse.Namespace) -> int:
    from conversion.probes import find_exports, probe
    from kimi_student.cli import CommandError

    exports = find_exports(args.root)
    if not exports:
        raise CommandError(f"no exports under {args.root} (looked for onnx/*/ and coreml/*/ with contract.json)")
    reports = [probe(path) for path in exports]
    if args.json:
        print(json.dumps(reports, indent=2))
    else:
        for report in reports:
            print(f"{'PASS' if report['ok'] else 'FAIL'} {report['format']} {report['role']} {report['export']}")
            for check in report["checks"]:
                status = {True: "ok", False: "FAIL", None: "skip"}[check["ok"]]
                print(f"  {status:4} {check['name']}: {check['detail']}")
    return 0 if all(r["ok"] for r in reports) else 1
