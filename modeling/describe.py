"""Exact size of a role config: parameters, KV cache per token, memory at each context length.

The model is built on the meta device (shapes, no storage), so describing the 9B worker costs
nothing, and the counts come from the real modules rather than a formula that could drift from them.
"""

from __future__ import annotations

from typing import Any

import torch

from modeling.config import RoleConfig
from modeling.model import Transformer

CONTEXT_LENGTHS = (2048, 4096, 8192, 16384, 32768)
KV_DTYPE_BYTES = {"fp16": 2, "fp32": 4}
GIB = 1024**3


def meta_model(config: RoleConfig) -> Transformer:
    with torch.device("meta"):
        return Transformer(config.model)


def count_parameters(model: Transformer) -> dict[str, int]:
    """Distinct parameters by part; a tied LM head counts once (as the embedding)."""
    embedding = model.model.embed_tokens.weight.numel()
    lm_head = 0 if model.config.tie_embeddings else model.lm_head.weight.numel()
    heads = sum(p.numel() for p in model.judge_heads.parameters()) if model.judge_heads is not None else 0
    total = sum(p.numel() for p in model.parameters())
    return {
        "total": total,
        "embedding": embedding,
        "lm_head": lm_head,
        "non_embedding": total - embedding - lm_head - heads,  # blocks + final norm
        "judge_heads": heads,
    }


def weight_bytes(model: Transformer) -> dict[str, int]:
    """fp16: 2 bytes a parameter. int8: matrices as int8 plus one fp16 scale per output row;
    vectors (norms, biases) stay fp16."""
    fp16 = int8 = 0
    for p in model.parameters():
        fp16 += 2 * p.numel()
        int8 += p.numel() + 2 * p.shape[0] if p.dim() == 2 else 2 * p.numel()
    return {"fp16": fp16, "int8": int8}


def kv_bytes_per_token(model: Transformer) -> dict[str, int]:
    c = model.config
    return {name: 2 * c.n_layers * c.n_kv_heads * c.d_head * size for name, size in KV_DTYPE_BYTES.items()}


def describe(config: RoleConfig, name: str = "") -> dict[str, Any]:
    """Everything `models describe` prints, as plain data (batch 1, fp16 KV cache)."""
    model = meta_model(config)
    weights, kv = weight_bytes(model), kv_bytes_per_token(model)
    memory = [
        {
            "context": ctx,
            "beyond_max_seq_len": ctx > config.model.max_seq_len,
            "kv_fp16_bytes": ctx * kv["fp16"],
            "fp16_weights_bytes": weights["fp16"] + ctx * kv["fp16"],
            "int8_weights_bytes": weights["int8"] + ctx * kv["fp16"],
        }
        for ctx in CONTEXT_LENGTHS
    ]
    return {
        "name": name,
        "role": config.role,
        "architecture": config.model.model_dump(mode="json"),
        "parameters": count_parameters(model),
        "weight_bytes": weights,
        "kv_bytes_per_token": kv,
        "memory": memory,
    }


def _human(n: int) -> str:
    return f"{n / 1e9:.3f} B" if n >= 1e9 else f"{n / 1e6:.3f} M"


def _bytes(n: int) -> str:
    for unit, size in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def format_report(report: dict[str, Any]) -> str:
    a, p, kv, w = (report[k] for k in ("architecture", "parameters", "kv_bytes_per_token", "weight_bytes"))
    lines = [
        f"{report['name'] or 'model'} (role {report['role']}): d_model {a['d_model']}, "
        f"{a['n_layers']} layers, {a['n_heads']}/{a['n_kv_heads']} heads x {a['d_head']}, "
        f"MLP {a['intermediate_size']}, vocab {a['vocab_size']}, tied {a['tie_embeddings']}",
        f"  parameters     {p['total']:>17,}  ({_human(p['total'])})",
        f"    embedding    {p['embedding']:>17,}",
        f"    lm_head      {p['lm_head']:>17,}",
        f"    non-embedding{p['non_embedding']:>17,}",
        f"    judge heads  {p['judge_heads']:>17,}",
        f"  weights        fp16 {_bytes(w['fp16'])}, int8 {_bytes(w['int8'])}",
        f"  KV cache/token fp16 {kv['fp16']:,} B, fp32 {kv['fp32']:,} B",
        f"  memory at context (batch 1, fp16 KV; * = beyond max_seq_len {a['max_seq_len']}):",
        f"    {'context':>8}  {'KV fp16':>11}  {'fp16 weights':>13}  {'int8 weights':>13}",
    ]
    for row in report["memory"]:
        kv_mem, fp16, int8 = (_bytes(row[f"{k}_bytes"]) for k in ("kv_fp16", "fp16_weights", "int8_weights"))
        mark = "*" if row["beyond_max_seq_len"] else " "
        lines.append(f"    {row['context']:>7}{mark}  {kv_mem:>11}  {fp16:>13}  {int8:>13}")
    return "\n".join(lines)


MARKDOWN_HEADER = (
    "| config | role | d / layers / heads (kv) | parameters | KV/token fp16 | fp16 @8k | int8 @8k "
    "| fp16 @16k | int8 @16k |\n|---|---|---|--:|--:|--:|--:|--:|--:|"
)


def markdown_row(report: dict[str, Any]) -> str:
    """One row of the docs/models.md table (memory at 8k and 16k context, batch 1, fp16 KV)."""
    a, rows = report["architecture"], {r["context"]: r for r in report["memory"]}
    cells = [
        report["name"],
        report["role"],
        f"{a['d_model']} / {a['n_layers']} / {a['n_heads']} ({a['n_kv_heads']})",
        f"{report['parameters']['total']:,}",
        f"{report['kv_bytes_per_token']['fp16']:,} B",
    ]
    for ctx in (8192, 16384):
        mark = "*" if rows[ctx]["beyond_max_seq_len"] else ""
        cells += [_bytes(rows[ctx][f"{fmt}_weights_bytes"]) + mark for fmt in ("fp16", "int8")]
    return "| " + " | ".join(cells) + " |"
