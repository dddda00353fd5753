"""The report: summary metrics, per-scenario and per-complexity breakdowns, gates, client-side speed.

Gates (hard unless noted): tool selection >= 0.90, JSON validity >= 0.98, integration F1 (macro, lax)
>= 0.90 (INCONCLUSIVE below 15 eligible items), fixture hit rate >= 0.95, controls with integration
= 0, item errors = 0. A FAIL makes `kimi-student eval` exit 1.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

MIN_ELIGIBLE = 15
GATES = (  # (metric, comparison, threshold)
    ("tool_selection_accuracy", ">=", 0.90),
    ("json_validity_rate", ">=", 0.98),
    ("integration_f1_macro_lax", ">=", 0.90),
    ("fixture_hit_rate", ">=", 0.95),
    ("controls_with_integration", "==", 0),
    ("item_errors", "==", 0),
)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [r for r in records if r.get("error") is None]
    s = [r["scores"] for r in scored]
    with_gold = [x for x in s if x["num_gold_calls"]]
    eligible = [x["integration"] for x in s if x["integration_eligible"]]
    by_behaviour: dict[str, list[bool]] = defaultdict(list)
    for r in scored:
        if r["scores"]["behaviour_ok"] is not None:
            by_behaviour[r["behaviour"]].append(r["scores"]["behaviour_ok"])
    controls = [ok for b in ("no_tool", "decline", "ask_clarify") for ok in by_behaviour.get(b, [])]
    calls = sum(x["num_calls"] for x in s)
    out: dict[str, Any] = {
        "total": len(records), "scored": len(scored), "item_errors": len(records) - len(scored),
        "tool_selection_accuracy": _mean([x["tool_selection_ok"] for x in s]),
        "args_ast_accuracy": _mean([x["args_ast_ok"] for x in with_gold]),
        "args_exact_accuracy": _mean([x["args_exact_ok"] for x in with_gold]),
        "json_validity_rate": _ratio(sum(x["json_valid_calls"] for x in s), calls),
        "schema_validity_rate": _ratio(sum(x["schema_valid_calls"] for x in s), calls),
        "multi_call_parity_rate": _mean([x["parity_ok"] for x in with_gold]),
        "calls": calls, "fixture_lookups": sum(x["fixture_lookups"] for x in s),
        "fixture_hit_rate": _ratio(sum(x["fixture_hits"] for x in s), sum(x["fixture_lookups"] for x in s)),
        "controls_ok_rate": _mean(controls),
        "behaviour_ok_rate": {b: _mean(v) for b, v in sorted(by_behaviour.items())},
        "negative_control_ok_rate": _mean(by_behaviour.get("report_failure", [])),
        "controls_with_integration": sum(x["control_with_integration"] for x in s),
        "integration_eligible": len(eligible),
        "privacy_ok_rate": _mean([x["privacy_ok"] for x in s]),
        "finished_rate": _mean([r["finished"] for r in scored]),
    }
    for key in ("f1", "precision", "recall"):
        for mode in ("lax", "strict"):
            out[f"integration_{key}_macro_{mode}"] = _mean([e[f"{key}_{mode}"] for e in eligible])
    return out


def breakdown(records: list[dict[str, Any]], field: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r[field]].append(r)
    keys = ("total", "item_errors", "tool_selection_accuracy", "args_ast_accuracy", "json_validity_rate",
            "integration_f1_macro_lax", "integration_f1_macro_strict", "fixture_hit_rate")
    return {name: {k: v for k, v in summarize(rows).items() if k in keys} for name, rows in sorted(groups.items())}


def gates(summary: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for metric, op, threshold in GATES:
        value = summary.get(metric)
        if (metric.startswith("integration") and summary["integration_eligible"] < MIN_ELIGIBLE) or value is None:
            status = "INCONCLUSIVE"
        else:
            status = "PASS" if (value >= threshold if op == ">=" else value == threshold) else "FAIL"
        out.append({"gate": metric, "op": op, "threshold": threshold, "value": value, "status": status})
    return out


def _pct(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 6)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 6)


def busy_time(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of [start, end) intervals: the time some request was in flight."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def speed(entries: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    """Client-side TTFT, TPOT, end-to-end latency (p50/p95), tokens/s, and the harness overhead.

    `entries` holds one timing per request and one per item (`item_s`, `requests_s`); the harness
    overhead is the share of the items' time spent outside requests (broker, messages, scoring)."""
    items = [t for t in entries if "item_s" in t]
    timings = [t for t in entries if "item_s" not in t]
    item_s = sum(t["item_s"] for t in items)
    ttft = [t["ttft_s"] for t in timings if t["ttft_s"] is not None]
    e2e = [t["e2e_s"] for t in timings]
    tpot = [(t["e2e_s"] - t["ttft_s"]) / (t["tokens"] - 1) for t in timings
            if t["ttft_s"] is not None and t["tokens"] > 1]
    tokens = sum(t["tokens"] for t in timings)
    busy = busy_time([(t["started"], t["started"] + t["e2e_s"]) for t in timings])
    out: dict[str, Any] = {"requests": len(timings), "completion_tokens": tokens, "wall_s": round(wall_s, 3),
                           "busy_s": round(busy, 3),
                           "tokens_per_s": round(tokens / busy, 2) if busy else None,
                           "harness_overhead": round(1 - sum(t["requests_s"] for t in items) / item_s, 4)
                           if item_s else None}
    for name, values in (("ttft_s", ttft), ("tpot_s", tpot), ("e2e_s", e2e)):
        out[f"{name}_p50"], out[f"{name}_p95"] = _pct(values, 50), _pct(values, 95)
    return out


def build_report(records: list[dict[str, Any]], timings: list[dict[str, Any]], wall_s: float,
                 header: dict[str, Any]) -> dict[str, Any]:
    summary = summarize(records)
    table = gates(summary)
    return {"header": header, "summary": summary,
            "by_scenario": breakdown(records, "scenario"), "by_complexity": breakdown(records, "complexity"),
            "gates": table, "gates_ok": all(g["status"] != "FAIL" for g in table),
            "speed": speed(timings, wall_s)}


def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Metric by metric, B minus A, for the summary and speed; and the gates whose status changed."""
    def numeric(section: dict[str, Any]) -> dict[str, float]:
        return {k: v for k, v in section.items() if isinstance(v, int | float) and not isinstance(v, bool)}

    out: dict[str, Any] = {}
    for section in ("summary", "speed"):
        na, nb = numeric(a.get(section, {})), numeric(b.get(section, {}))
        out[section] = {k: {"a": na.get(k), "b": nb.get(k),
                            "delta": round(nb[k] - na[k], 6) if k in na and k in nb else None}
                        for k in sorted(set(na) | set(nb))}
    ga = {g["gate"]: g["status"] for g in a.get("gates", [])}
    gb = {g["gate"]: g["status"] for g in b.get("gates", [])}
    out["gates_changed"] = {k: {"a": ga.get(k), "b": gb.get(k)} for k in sorted(set(ga) | set(gb))
                            if ga.get(k) != gb.get(k)}
    return out
