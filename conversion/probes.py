"""Probes: check an export against its contract. Spec checks run everywhere; Core ML predictions need macOS.

Core ML spec checks read the package's protobuf only (no runtime): specification version (macOS 15 /
iOS 18), mlprogram, functions, inputs (enumerated shapes included), outputs, states, INT8 weights
(every projection and the LM head feed a `constexpr_blockwise_shift_scale` of int8 data, payload about
half its fp16 size) and weights shared across functions. Prediction parity (rel error <= 0.02 and
cosine >= 0.999 against torch) runs where Core ML can predict, i.e. on macOS, and is reported as
skipped with the reason elsewhere. ONNX exports get their graph names, dtypes and opset checked.
"""

from __future__ import annotations

import math
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conversion.contracts import read_contract

INT8_PAYLOAD_MAX_RATIO = 0.55  # int8 data + per-channel scales vs the same weights in fp16
REL_ERROR_MAX = 0.02
COSINE_MIN = 0.999
MIN_SPEC_VERSION = 9  # Core ML 8: macOS 15 / iOS 18 (states, multifunction)
PROJECTIONS_PER_LAYER = 7  # q, k, v, o, gate, up, down
ITEMSIZE = {"INT8": 1, "UINT8": 1, "FLOAT16": 2, "FLOAT32": 4, "INT32": 4, "INT4": 0.5, "UINT4": 0.5}
SPEC_DTYPES = {"INT32": "int32", "FLOAT16": "float16", "FLOAT32": "float32"}
PREDICTION_SKIP_REASON = "Core ML predictions need the Core ML framework (macOS); spec checks ran instead"


@dataclass
class Check:
    name: str
    ok: bool | None  # None: skipped
    detail: str


def can_predict_coreml() -> bool:
    return sys.platform == "darwin" and int(platform.mac_ver()[0].split(".")[0] or 0) >= 15


def _dtype_name(code: int) -> str:
    from coremltools.proto import MIL_pb2

    return MIL_pb2.DataType.Name(code)


def _numel(tensor_type: Any) -> int:
    return math.prod(d.constant.size for d in tensor_type.dimensions)


def _array_spec(feature: Any) -> tuple[str, list[Any]]:
    """(dtype, shape) of a multiArray or state feature; an enumerated dimension is a list of sizes."""
    which = feature.type.WhichOneof("Type")
    array = feature.type.stateType.arrayType if which == "stateType" else feature.type.multiArrayType
    from coremltools.proto import FeatureTypes_pb2

    dtype = FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(array.dataType)
    shape: list[Any] = list(array.shape)
    enumerated = [list(s.shape) for s in array.enumeratedShapes.shapes]
    if enumerated:
        shape = [sorted({s[i] for s in enumerated}) if len({s[i] for s in enumerated}) > 1 else enumerated[0][i]
                 for i in range(len(enumerated[0]))]
    return SPEC_DTYPES.get(dtype, dtype.lower()), shape


def _function_descriptions(spec: Any) -> dict[str, Any]:
    if len(spec.description.functions):
        return {f.name: f for f in spec.description.functions}
    return {"main": spec.description}


def _compare_features(kind: str, function: str, actual: Any, expected: list[dict[str, Any]]) -> Check:
    found = [{"name": f.name, "dtype": d, "shape": s} for f in actual for d, s in [_array_spec(f)]]
    if kind == "outputs":  # output shapes are inferred by Core ML at load; names and dtypes are the contract
        found = [{"name": f["name"]} for f in found]
        expected = [{"name": e["name"]} for e in expected]
    return Check(f"{function}: {kind}", found == expected, f"found {found}" if found != expected else "as contracted")


def _weight_stats(function: Any) -> dict[str, float]:
    ops = function.block_specializations[function.opset].operations
    stats = {"int8_tensors": 0, "int8_bytes": 0, "scale_bytes": 0, "blob_bytes": 0, "blobs": 0}
    for op in ops:
        if op.type == "const" and op.attributes["val"].WhichOneof("value") == "blobFileValue":
            t = op.attributes["val"].type.tensorType
            stats["blob_bytes"] += _numel(t) * ITEMSIZE.get(_dtype_name(t.dataType), 4)
            stats["blobs"] += 1
        if not op.type.startswith("constexpr_"):
            continue
        for arg_name, arg in op.inputs.items():
            value = arg.arguments[0].value
            if value.WhichOneof("value") != "blobFileValue":
                continue
            t = value.type.tensorType
            size = _numel(t) * ITEMSIZE.get(_dtype_name(t.dataType), 4)
            stats["blob_bytes"] += size
            stats["blobs"] += 1
            if arg_name == "data" and _dtype_name(t.dataType) == "INT8":
                stats["int8_tensors"] += 1
                stats["int8_bytes"] += size
            elif arg_name in ("scale", "offset"):
                stats["scale_bytes"] += size
    return stats


def coreml_spec_checks(export_dir: str | Path) -> list[Check]:
    import coremltools as ct

    root = Path(export_dir)
    contract = read_contract(root)
    package = root / contract["package"]
    spec = ct.utils.load_spec(str(package))
    n_layers = contract["model"]["n_layers"]
    checks = [
        Check("spec version", spec.specificationVersion >= MIN_SPEC_VERSION,
              f"{spec.specificationVersion} (>= {MIN_SPEC_VERSION}: macOS 15 / iOS 18)"),
        Check("mlprogram", spec.WhichOneof("Type") == "mlProgram", spec.WhichOneof("Type") or "none"),
    ]
    descriptions = _function_descriptions(spec)
    checks.append(Check("functions", sorted(descriptions) == sorted(contract["functions"]), str(sorted(descriptions))))
    per_function_blobs = []
    for name, expected in contract["functions"].items():
        desc = descriptions.get(name)
        if desc is None:
            continue
        checks.append(_compare_features("inputs", name, desc.input, expected["inputs"]))
        checks.append(_compare_features("outputs", name, desc.output, expected["outputs"]))
        checks.append(_compare_features("states", name, desc.state, expected["states"]))
        stats = _weight_stats(spec.mlProgram.functions[name])
        per_function_blobs.append(stats)
        wanted = PROJECTIONS_PER_LAYER * n_layers + (1 if contract["model"]["tie_embeddings"] else 2)  # head, embedding
        checks.append(Check(f"{name}: int8 weights", stats["int8_tensors"] >= wanted,
                            f"{stats['int8_tensors']} int8 tensors (>= {wanted})"))
        payload = stats["int8_bytes"] + stats["scale_bytes"]
        ratio = payload / (2 * stats["int8_bytes"]) if stats["int8_bytes"] else float("inf")
        checks.append(Check(f"{name}: int8 size vs fp16", ratio <= INT8_PAYLOAD_MAX_RATIO,
                            f"{ratio:.3f} of the fp16 size (<= {INT8_PAYLOAD_MAX_RATIO})"))
    weight_file = package / "Data" / "com.apple.CoreML" / "weights" / "weight.bin"
    if per_function_blobs and weight_file.is_file():
        largest = max(s["blob_bytes"] + 64 * s["blobs"] for s in per_function_blobs)  # 64-byte aligned blobs
        size = weight_file.stat().st_size
        checks.append(Check("weights shared across functions", size <= 1.25 * largest + 4096,
                            f"weight.bin {size} bytes, one function's constants {largest} bytes"))
    return checks


def coreml_prediction_checks(export_dir: str | Path, artifact: str | Path | None = None) -> list[Check]:
    """Core ML vs torch on a fixed prompt (macOS only; one skipped Check with the reason elsewhere)."""
    if not can_predict_coreml():
        return [Check("prediction parity", None, PREDICTION_SKIP_REASON)]
    from conversion.coreml_predict import prediction_parity

    root = Path(export_dir)
    contract = read_contract(root)
    results = prediction_parity(root, contract, Path(artifact or contract["source"]["artifact"]))
    return [
        Check(f"{name}: prediction parity", r["rel_error"] <= REL_ERROR_MAX and r["cosine"] >= COSINE_MIN,
              f"rel error {r['rel_error']:.4f} (<= {REL_ERROR_MAX}), cosine {r['cosine']:.5f} (>= {COSINE_MIN})")
        for name, r in results.items()
    ]


def onnx_spec_checks(export_dir: str | Path) -> list[Check]:
    from conversion.onnx_export import OPSET, graph_spec

    root = Path(export_dir)
    contract = read_contract(root)
    checks = [Check("opset", contract["opset"] >= OPSET, str(contract["opset"]))]
    for name, expected in contract["graphs"].items():
        path = root / expected["file"]
        if not path.is_file():
            checks.append(Check(f"{name}: file", False, f"{path} missing"))
            continue
        found = graph_spec(path)
        checks.append(Check(f"{name}: inputs and outputs", found == expected,
                            "as contracted" if found == expected else f"found {found}"))
    parity = contract.get("parity")
    if parity is not None:
        checks.append(Check("parity (recorded at export)", parity["max_abs_logit_error"] <= parity["atol"],
                            f"max abs logit error {parity['max_abs_logit_error']:.2e} (<= {parity['atol']})"))
    return checks


def probe(export_dir: str | Path, artifact: str | Path | None = None) -> dict[str, Any]:
    """Every check of one export directory; `ok` is false when any check failed (skips do not fail)."""
    contract = read_contract(export_dir)
    if contract["format"] == "coreml":
        checks = coreml_spec_checks(export_dir) + coreml_prediction_checks(export_dir, artifact)
    else:
        checks = onnx_spec_checks(export_dir)
    return {
        "export": str(export_dir),
        "format": contract["format"],
        "role": contract["source"]["role"],
        "ok": all(c.ok is not False for c in checks),
        "checks": [asdict(c) for c in checks],
    }


def find_exports(root: str | Path) -> list[Path]:
    """Export directories (holding contract.json) under root/onnx/* and root/coreml/*, or root itself."""
    base = Path(root)
    if (base / "contract.json").is_file():
        return [base]
    return sorted(p.parent for fmt in ("onnx", "coreml") for p in base.glob(f"{fmt}/*/contract.json"))


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-12))


def cosine(actual: np.ndarray, expected: np.ndarray) -> float:
    a, b = actual.ravel().astype(np.float64), expected.ravel().astype(np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
