"""One results-JSONL record per item: what the model did and every score, deterministic JSON.

Timings are not part of the record (they go to the report), so two runs at temperature 0 with one
seed write byte-identical results.
"""

from __future__ import annotations

from typing import Any

from evaluation.dataset import EvalItem
from evaluation.loop import Transcript
from evaluation.scoring.answers import (
    NO_INTEGRATION_BEHAVIOURS,
    behaviour_ok,
    grounded_claims,
    integration_scores,
    privacy,
)
from evaluation.scoring.calls import call_scores
from training.data.tools import ToolRegistry

INTEGRATION_BEHAVIOURS = ("tool_use", "retry")


def _base(item: EvalItem) -> dict[str, Any]:
    return {"id": item.id, "scenario": item.scenario, "complexity": item.complexity, "structure": item.structure,
            "behaviour": item.behaviour, "lang": item.lang}


def error_record(item: EvalItem, error: str) -> dict[str, Any]:
    return {**_base(item), "error": error}


def integration_eligible(item: EvalItem) -> bool:
    return item.behaviour in INTEGRATION_BEHAVIOURS and any(
        isinstance(r, dict) and r.get("ok") for r in item.gold_results)


def score_item(item: EvalItem, t: Transcript, registry: ToolRegistry) -> dict[str, Any]:
    answers = [a for turn in t.answers for a in turn]
    results = t.results
    scores: dict[str, Any] = call_scores(t.calls, item.gold_calls, registry)
    scores["fixture_lookups"] = sum(a.looked_up for a in answers)
    scores["fixture_hits"] = sum(a.hit for a in answers)
    scores["behaviour_ok"] = behaviour_ok(item.behaviour, t.final, len(t.calls), results, item.lang)
    scores["integration_eligible"] = integration_eligible(item)
    if scores["integration_eligible"]:
        scores["integration"] = integration_scores(t.final, results, item.lang)
    scores["control_with_integration"] = (item.behaviour in NO_INTEGRATION_BEHAVIOURS
                                          and grounded_claims(t.final, results, item.lang) > 0)
    texts = [turn.content for turn in t.turns] + [args for _, args in t.calls]
    problems = privacy(texts)
    scores["privacy_ok"], scores["privacy_problems"] = not problems, problems
    calls = [{"name": name, "arguments": args, "result": a.result.get("error") or "ok", "fixture_hit": a.hit}
             for (name, args), a in zip(t.calls, answers, strict=True)]
    return {**_base(item), "error": None, "turns": len(t.turns), "finished": t.finished, "calls": calls,
            "answer": t.final, "scores": scores}
