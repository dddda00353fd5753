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
