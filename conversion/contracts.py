"""Contracts: one JSON per export naming every graph's inputs and outputs (name, dtype, shape).

Shapes hold ints for fixed sizes and strings for symbolic ones ("batch", "seq", "cache"). Runtimes
(the service's ONNX backend, a Swift host) read the contract instead of guessing names.
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
