"""Contracts: one JSON per export naming every graph's inputs and outputs (name, dtype, shape).

Shapes hold ints for fixed sizes and strings for symbolic ones ("batch", "seq", "cache"). Runtimes
(the service's ONNX and Core ML backends, a Swift host) read the contract instead of guessing names;
`check_export` refuses an export that is missing, of another format, or made from other weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTRACT = "contract.json"
CONTRACT_VERSION = 1


def tensor_spec(name: str, dtype: str, shape: list[int | str]) -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "shape": shape}


def write_contract(out_dir: Path, contract: dict[str, Any]) -> Path:
    path = out_dir / CONTRACT
    path.write_text(json.dumps({"contract_version": CONTRACT_VERSION, **contract}, indent=2) + "\n")
    return path


def read_contract(out_dir: str | Path) -> dict[str, Any]:
    path = Path(out_dir) / CONTRACT
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no export contract here") from None


FORMAT_NAMES = {"onnx": "ONNX", "coreml": "Core ML"}


class StaleExportError(ValueError):
    """An export that is missing, of another format, or made from other weights than the artifact's."""


def check_export(export_dir: str | Path, manifest: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The contract of export_dir if it is a `fmt` export ("onnx", "coreml") of exactly the weights the
    artifact manifest names (its `weights_sha256`); StaleExportError otherwise."""
    name = FORMAT_NAMES.get(fmt, fmt)
    try:
        contract = read_contract(export_dir)
    except FileNotFoundError:
        raise StaleExportError(f"no {name} export at {export_dir}") from None
    if contract.get("format") != fmt:
        raise StaleExportError(f"{export_dir} holds a {contract.get('format')!r} export, not {name}")
    exported = contract.get("source", {}).get("weights_sha256")
    if exported != manifest.get("weights_sha256"):
        raise StaleExportError(
            f"{export_dir} was exported from weights {str(exported)[:12]}…, the artifact has "
            f"{str(manifest.get('weights_sha256'))[:12]}…"
        )
    return contract
