"""The verdict record (CONTRACTS 2.5): per-plea results, trust score, reasoning, waiver info, id.

`verdict_id` is `CAWS-VERDICT-` + 16 base32 characters of the SHA-256 of the inputs (spec,
pleas, waivers, policy, Judge artifact, `now`), so the same inputs give the same record. The
record is validated against `caws_verdict.schema.json` before it is returned; a record that
fails its own schema is a programmer error and raises.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arbiter.codec import format_time, normalize, short_id
from arbiter.judge import CLAUSES, Judge, JudgeScore
from arbiter.pleas import CheckedPlea
from arbiter.policy import Policy
from arbiter.schema import validate
from arbiter.spec import WorkingSpec
from arbiter.waivers import Eligibility, Waiver


@dataclass(frozen=True)
class Violation:
    gate: str
    message: str
    waivable: bool
    waived_by: str | None


@dataclass(frozen=True)
class Examination:
    """Everything decided about one plea."""

    checked: CheckedPlea
    status: str
    violations: tuple[Violation, ...]
    effective_files: int
    effective_loc: int
    judge: JudgeScore

    @property
    def candidate_id(self) -> str:
        return self.checked.plea.candidate_id

    @property
    def within_budget(self) -> bool:
        stats = self.checked.stats
        return stats.file_count <= self.effective_files and stats.loc <= self.effective_loc


class InvalidRecord(RuntimeError):
    """The arbiter built a record its own schema rejects: a bug, never a user error."""


def build_record(spec: WorkingSpec, exams: Sequence[Examination], winner: int,
                 assessed: Sequence[Eligibility], *, change_id: str, now: dt.datetime, policy: Policy,
                 judge: Judge, waivers: Sequence[Waiver]) -> dict[str, Any]:
    best = exams[winner]
    checked, stats = best.checked, best.checked.stats
    alignment = round(sum((checked.diff_present, checked.rationale_present, checked.evidence_present)) / 3, 4)
    failed = {v.gate for v in best.violations}
    record = {
        "verdict_id": "CAWS-VERDICT-" + short_id(_fingerprint(spec, exams, change_id, now, policy, judge, waivers)),
        "status": best.status,
        "timestamp": format_time(now),
        "change_id": change_id,
        "spec_id": spec.id,
        "risk_tier": spec.risk_tier,
        "caws_compliance": {
            "budget_adherence": {"max_files": best.effective_files, "max_loc": best.effective_loc,
                                 "actual_files": stats.file_count, "actual_loc": stats.loc,
                                 "within_budget": best.within_budget},
            "gate_integrity": {"tests_pass": "tests" not in failed, "lint_pass": "lint" not in failed,
                               "coverage_pass": "coverage_threshold" not in failed,
                               "all_gates_pass": not failed},
            "provenance_clarity": {"rationale_present": checked.rationale_present,
                                   "evidence_manifest_present": checked.evidence_present,
                                   "diff_present": checked.diff_present, "alignment_score": alignment},
        },
        "violations": [dataclasses.asdict(v) for v in best.violations],
        "waiver_info": waiver_info(best, assessed),
        "clause_mappings": [{"caws_clause": c, "relevance_score": _unit(best.judge.clauses.get(c, 0.0))}
                            for c in CLAUSES],
        "evidence_quality": _unit(best.judge.score),
        "trust_score": trust_score(spec, best, policy, alignment),
        "winner_candidate_id": best.candidate_id,
        "candidates": [{"candidate_id": e.candidate_id, "status": e.status, "judge_score": _unit(e.judge.score),
                        "superseded": i != winner} for i, e in enumerate(exams)],
        "arbiter_reasoning": reasoning(spec, exams, winner, assessed, policy),
        "provenance": {"entry_hash": None, "previous_hash": None},
        "models": {"judge": judge.artifact_sha256},
        "policy_sha256": policy.sha256,
    }
    errors = validate("caws_verdict", record)
    if errors:
        raise InvalidRecord("; ".join(map(str, errors)))
    return record


def trust_score(spec: WorkingSpec, exam: Examination, policy: Policy, alignment: float) -> int:
    """100 · Σ wᵢ·sᵢ / Σ wᵢ rounded half up, capped at `waiver_cap` when any waiver was applied."""
    tier, results, trust = policy.tier(spec.risk_tier), exam.checked.results, policy.trust
    failed = {v.gate for v in exam.violations}
    budget_raw = "budget_limit" not in failed
    parts = {
        "coverage": _ramp(results.coverage_branch, tier.coverage_branch, trust.coverage_target),
        "mutation": _ramp(results.mutation_score, tier.mutation_score, trust.mutation_target),
        "contracts": float("contract_compliance" not in failed),
        "tests": float("tests" not in failed),
        "lint": float("lint" not in failed),
        "scope": float(not failed & {"scope_boundary", "naming"}),
        "budget": 1.0 if budget_raw else (0.5 if exam.within_budget else 0.0),
        "provenance": alignment,
    }
    weights = dict(trust.weights)
    score = math.floor(100 * sum(weights[k] * parts[k] for k in weights) / sum(weights.values()) + 0.5)
    if any(v.waived_by for v in exam.violations):
        score = min(score, trust.waiver_cap)
    return max(0, min(100, score))


def _ramp(value: float | None, minimum: float, target: float) -> float:
    """0 below the tier minimum (or missing), rising linearly to 1 at the target."""
    if value is None or value < minimum:
        return 0.0
    if target <= minimum or value >= target:
        return 1.0
    return (value - minimum) / (target - minimum)


def waiver_info(exam: Examination, assessed: Sequence[Eligibility]) -> list[dict[str, Any]]:
    info = []
    for item in assessed:
        waiver = item.waiver
        used = [v.gate for v in exam.violations if v.waived_by == waiver.id]
        if used:
            reason = f"applied to {', '.join(used)}"
        elif item.eligible:
            reason = f"eligible, but no violation of its gates ({', '.join(waiver.gates)}) used it"
        else:
            reason = f"not applied: {item.reason}"
        info.append({"waiver_id": waiver.id, "applied": bool(used), "gates": used, "reason": reason,
                     "expires_at": format_time(waiver.expires_at)})
    return info


def reasoning(spec: WorkingSpec, exams: Sequence[Examination], winner: int,
              assessed: Sequence[Eligibility], policy: Policy) -> str:
    """Names the status, every violation of the winner, every waiver decision and the Judge's role."""
    best = exams[winner]
    lines = [f"{best.status} for spec {spec.id} (tier {spec.risk_tier}, mode {spec.mode}), "
             f"candidate {best.candidate_id}."]
    for v in best.violations:
        kind = f"waived by {v.waived_by}" if v.waived_by else ("not waivable" if not v.waivable else "unwaived")
        lines.append(f"Violation {v.gate} ({kind}): {v.message}.")
    if not best.violations:
        lines.append("No gate violated.")
    lines += [f"Waiver {row['waiver_id']}: {row['reason']}." for row in waiver_info(best, assessed)]
    if len(exams) > 1:
        others = ", ".join(f"{e.candidate_id} {e.status}" for i, e in enumerate(exams) if i != winner)
        lines.append(f"Selected over {others} (status first, Judge score breaks ties); the others are superseded.")
    lines.append(f"Judge score {best.judge.score:.4f} recorded (judge_mode {policy.judge_mode}).")
    return " ".join(lines)


def _unit(value: float) -> float:
    return round(min(1.0, max(0.0, float(value))), 4)


def _fingerprint(spec: WorkingSpec, exams: Sequence[Examination], change_id: str, now: dt.datetime,
                 policy: Policy, judge: Judge, waivers: Sequence[Waiver]) -> dict[str, Any]:
    pleas = [{"candidate_id": e.checked.plea.candidate_id, "diff": e.checked.plea.diff,
              "rationale": e.checked.plea.rationale, "evidence_manifest": e.checked.plea.evidence_manifest,
              "gate_results": e.checked.plea.gate_results} for e in exams]
    waiver_docs = sorted((_waiver_doc(w) for w in waivers), key=lambda d: d["id"])
    return {"spec": spec.sha256, "change_id": change_id, "now": format_time(now), "pleas": normalize(pleas),
            "waivers": waiver_docs, "policy": policy.sha256, "judge": judge.artifact_sha256}


def _waiver_doc(waiver: Waiver) -> dict[str, Any]:
    doc = dataclasses.asdict(waiver)
    doc["expires_at"] = format_time(waiver.expires_at)
    doc["gates"], doc["approvers"] = list(waiver.gates), list(waiver.approvers)
    return doc


