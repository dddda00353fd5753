"""Aggregate the verifier's per-item results into metrics, a gate table and a JSON report."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tqdm import tqdm

from modeling.checkpoint import sha256_file
from modeling.tokenizer import KSTokenizer
from training.data import scenarios, special, token_cache
from training.data.extract import check_tokenizer_fingerprint
from training.data.generate import cells
from training.data.jsonl import DataError, atomic_writer, dumps, iter_rows, read_header
from training.data.plots import plot_report
from training.data.tools import default_registry
from training.data.verify import ItemResult, Verifier

MIN_ELIGIBLE = 15  # below this, integration gates are INCONCLUSIVE rather than pass/fail


def _rate(items: list[ItemResult], attr: str) -> float:
    return sum(getattr(i, attr) for i in items) / len(items) if items else 0.0


def _macro(items: list[ItemResult], key: str) -> float:
    vals = [i.integration[key] for i in items if i.eligible]
    return sum(vals) / len(vals) if vals else 0.0


def summarize(items: list[ItemResult], metas: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(items)
    kinds = Counter(m["kind"] for m in metas)
    normal = [m for m in metas if m["kind"] == "normal"]
    covered = Counter((m["scenario"], m["complexity"], m["structure"]) for m in normal)
    backbone = Counter((m["scenario"], m["complexity"]) for m in normal)
    tokens = sorted(i.num_tokens for i in items) or [0]
    q = statistics.quantiles(tokens, n=10) if len(tokens) > 1 else [tokens[0]] * 9
    no_integration = {"no_tool", "decline", "ask_clarify", "report_failure"}
    return {
        "n": n,
        "ok_rate": _rate(items, "ok"),
        "semantic_ok_rate": _rate(items, "semantic_ok"),
        "caws_header_ok_rate": _rate(items, "caws_header_ok"),
        "privacy_ok_rate": _rate(items, "privacy_ok"),
        "token_align_ok_rate": _rate(items, "token_align_ok"),
        "multi_call_parity_rate": _rate(items, "parity_ok"),
        "eligible": sum(i.eligible for i in items),
        **{f"integration_{k}_macro_{m}": _macro(items, f"{k}_{m}")
           for k in ("f1", "precision", "recall") for m in ("lax", "strict")},
        "controls_with_integration": sum(
            1 for i, m in zip(items, metas, strict=True)
            if m["expected_behaviour"] in no_integration and m["n_integration"]),
        "kinds": dict(kinds),
        "control_share": kinds.get("control", 0) / n if n else 0.0,
        "long_context_share": kinds.get("long_context", 0) / n if n else 0.0,
        "multilingual_share": sum(m["lang"] != "en" for m in metas) / n if n else 0.0,
        "locale_probes": sum(bool(m["locale_probe"]) for m in metas),
        "adversarial_types": sorted({m["subkind"] for m in metas if m["kind"] == "adversarial"}),
        "control_types": sorted({m["expected_behaviour"] for m in metas if m["kind"] == "control"}),
        "cells_missing": sorted("/".join(c) for c in cells() if not covered[c]),
        "backbone_missing": sorted(f"{s}/{c}" for s in scenarios.SCENARIOS
                                   for c in scenarios.CELL_COMPLEXITIES[s] if not backbone[(s, c)]),
        "duplicate_ids": sum(c - 1 for c in Counter(i.id for i in items).values() if c > 1),
        "tokens_p10_p50_p90": [round(q[0]), round(q[4]), round(q[8])],
        "problems": dict(Counter(p.split(":")[0] for i in items for p in i.problems)),
    }


def _gate(name: str, value: Any, op: str, threshold: Any, hard: bool = True, applies: bool = True) -> dict:
    ok = {">=": lambda: value >= threshold, "==": lambda: value == threshold,
          "in": lambda: threshold[0] <= value <= threshold[1]}[op]()
    status = "PASS" if ok else ("FAIL" if hard else "WARN")
    if not applies:
        status = "INCONCLUSIVE"
    return {"gate": name, "value": value, "op": op, "threshold": threshold, "hard": hard, "status": status}


def gate_table(s: dict[str, Any], fingerprints_ok: bool) -> list[dict[str, Any]]:
    n, enough = s["n"], s["eligible"] >= MIN_ELIGIBLE
    full_grid = n >= 200  # below this the 66-cell grid cannot be expected to be covered
    return [
        _gate("ok_rate", s["ok_rate"], ">=", 0.95),
        _gate("semantic_ok_rate", s["semantic_ok_rate"], ">=", 0.98),
        _gate("caws_header_ok_rate", s["caws_header_ok_rate"], ">=", 0.95),
        _gate("privacy_ok_rate", s["privacy_ok_rate"], "==", 1.0),
        _gate("token_align_ok_rate", s["token_align_ok_rate"], ">=", 0.98),
        _gate("multi_call_parity_rate", s["multi_call_parity_rate"], ">=", 0.95),
        _gate("controls_with_integration", s["controls_with_integration"], "==", 0),
        _gate("integration_f1_macro_lax", s["integration_f1_macro_lax"], ">=", 0.90, applies=enough),
        _gate("integration_f1_macro_strict", s["integration_f1_macro_strict"], ">=", 0.75, hard=False,
              applies=enough),
        _gate("duplicate_ids", s["duplicate_ids"], "==", 0),
        _gate("fingerprints_match", fingerprints_ok, "==", True),
        _gate("long_context_share", s["long_context_share"], "in", [0.02, 0.05], hard=n >= 100, applies=n >= 20),
        _gate("control_share", s["control_share"], "in", [0.08, 0.12], hard=n >= 100, applies=n >= 20),
        _gate("multilingual_share", s["multilingual_share"], "in", [0.05, 0.10], hard=n >= 100, applies=n >= 20),
        _gate("adversarial_types", len(s["adversarial_types"]), "==", len(special.ADVERSARIAL_KINDS),
              applies=n >= 20),
        _gate("control_types", len(s["control_types"]), "==", len(special.CONTROL_KINDS), applies=n >= 20),
        _gate("stratification_cells_missing", len(s["cells_missing"]), "==", 0, applies=full_grid),
        _gate("stratification_backbone_missing", len(s["backbone_missing"]), "==", 0, applies=n >= 36),
    ]


def _meta_row(meta: dict[str, Any]) -> dict[str, Any]:
    adv = meta.get("adversarial") or {}
    return {"kind": meta.get("kind"), "scenario": meta.get("scenario"), "complexity": meta.get("complexity"),
            "structure": meta.get("structure"), "lang": meta.get("lang", "en"),
            "locale_probe": meta.get("locale_probe", False), "expected_behaviour": meta.get("expected_behaviour"),
            "subkind": adv.get("type"),
            "n_integration": len(meta.get("spans", {}).get("integration", {}).get("bytes", []))}


def run(inp: Path, report: Path, tokenizer_dir: Path | None = None, progress: bool = False,
        plot: bool = False) -> tuple[dict, int]:
    """Verify `inp`, write the JSON report; returns (report, exit code)."""
    t0 = time.perf_counter()
    header = read_header(inp, required=("tool_registry_sha256", "tokenizer_sha256", "tools"))
    if not header.get("extracted"):
        raise DataError(f"{inp}:1: not an extracted dataset: run `kimi-student data extract` first")
    tok_dir = tokenizer_dir or Path(header.get("tokenizer_dir") or "")
    tok = KSTokenizer.load(tok_dir)
    check_tokenizer_fingerprint(inp, header, tok)
    registry = default_registry()
    verifier = Verifier(header, tok, registry)
    items, metas = [], []
    cached = token_cache.read(inp, sha256_file(inp), tok)  # extract's encodings of exactly this file, if any
    for n, (line, row) in enumerate(tqdm(iter_rows(inp), desc="verify", disable=not progress, unit="sample")):
        items.append(verifier.check(line, row, cached[n][1] if cached is not None else None))
        metas.append(_meta_row(row.get("metadata") or {}))
    summary = summarize(items, metas)
    fingerprints_ok = header["tool_registry_sha256"] == registry.sha256
    gates = gate_table(summary, fingerprints_ok)
    elapsed = time.perf_counter() - t0
    out = {"input": str(inp), "summary": summary, "gates": gates,
           "fingerprints": {"tool_registry_sha256": registry.sha256, "tokenizer_sha256": tok.sha256,
                            "dataset_header": {k: header[k] for k in ("dataset_version", "seed", "total_samples")
                                               if k in header}},
           "perf": {"seconds": round(elapsed, 3), "seconds_per_100": round(100 * elapsed / max(1, len(items)), 4)},
           "items": [{"id": i.id, "line": i.line, "ok": i.ok, "problems": i.problems, **i.integration}
                     for i in items]}
    with atomic_writer(report) as f:
        f.write(dumps(out) + "\n")
    if plot:
        cells_count = Counter("/".join((m["scenario"], m["complexity"], m["structure"]))
                              for m in metas if m["kind"] == "normal")
        out["plot"] = str(plot_report(out, [i.num_tokens for i in items], cells_count, report.with_suffix(".png")))
    failed = [g for g in gates if g["status"] == "FAIL"]
    return out, 1 if failed else 0
