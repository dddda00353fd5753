"""Expected export sizes of a role config, computed on the meta device (no weights are built).

Core ML: int8 matrices with one fp16 scale per output row, fp16 vectors, and the two RoPE tables in
fp16 ([max_seq_len, d_head] each; not quantized); the functions of a multifunction package share them.
ONNX: fp32 parameters and fp32 RoPE tables, written once per graph (prefill and decode; the judge graph
adds a third copy for the judge).
"""

from __future__ import annotations

from typing import Any

from modeling.config import RoleConfig
from modeling.describe import meta_model, weight_bytes


def package_sizes(config: RoleConfig) -> dict[str, Any]:
    model = meta_model(config)
    cfg = config.model
    rope_entries = 2 * cfg.max_seq_len * cfg.d_head
    params = sum(p.numel() for p in model.parameters())
    graphs = 3 if config.role == "judge" else 2
    return {
        "coreml_int8_bytes": weight_bytes(model)["int8"] + 2 * rope_entries,
        "coreml_fp16_bytes": weight_bytes(model)["fp16"] + 2 * rope_entries,
        "onnx_fp32_bytes": graphs * (4 * params + 4 * rope_entries),
        "onnx_graphs": graphs,
    }


def format_sizes(name: str, sizes: dict[str, Any]) -> str:
    gib = 1024**3
    return (f"  export packages ({name}): Core ML int8 {sizes['coreml_int8_bytes'] / gib:.2f} GiB "
            f"(fp16 would be {sizes['coreml_fp16_bytes'] / gib:.2f} GiB), ONNX fp32 "
            f"{sizes['onnx_fp32_bytes'] / gib:.2f} GiB in {sizes['onnx_graphs']} graphs")
