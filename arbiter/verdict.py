"""The decision rule (CONTRACTS 2.5) over one or several candidate pleas.

Per plea: an unwaived violation of a non-waivable gate -> FAIL; else any unwaived violation ->
WAIVER_REQUIRED; else PASS. Among candidates the best status wins (PASS > WAIVER_REQUIRED >
FAIL), ties broken by the Judge's score, then by submission order; the others are superseded.
`adjudicate` is the orchestrator: it checks every input, decides, builds the record
(`arbiter.record`) and validates it against `caws_verdict.schema.json`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from arbiter.examine import Finding, check_budget, check_naming, check_scope
from arbiter.gates import (
    check_contracts,
    check_coverage,
    check_lint,
    check_manual_review,
    check_mutation,
    check_provenance,
    check_tests,
)
from arbiter.judge import DeterministicJudge, Judge, render_candidate, render_prompt
from arbiter.pleas import CheckedPlea, Plea, check_pleas
from arbiter.policy import GATES, Policy
from arbiter.record import Examination, Violation, build_record
from arbiter.result import Err, Ok, Result
from arbiter.spec import WorkingSpec
from arbiter.waivers import Eligibility, Waiver, applicable, assess, effective_budget

STATUS_RANK = {"PASS": 0, "WAIVER_REQUIRED": 1, "FAIL": 2}


def decide(violations: Sequence[Violation]) -> str:
    unwaived = [v for v in violations if v.waived_by is None]
    if any(not v.waivable for v in unwaived):
        return "FAIL"
    return "WAIVER_REQUIRED" if unwaived else "PASS"


def findings_for(spec: WorkingSpec, checked: CheckedPlea, policy: Policy) -> list[Finding]:
    """Every gate except `budget_limit` (which depends on waiver deltas) and `judge_review`."""
    tier, results, stats = policy.tier(spec.risk_tier), checked.results, checked.stats
    found = [
        check_scope(stats, spec.scope_in, spec.scope_out),
        check_naming(stats),
        check_coverage(results, tier, spec.risk_tier),
        check_mutation(results, tier, spec.risk_tier),
        check_contracts(results, tier, spec.risk_tier),
        check_lint(results),
        check_tests(results),
        check_manual_review(results, tier, spec.risk_tier),
        check_provenance(checked.diff_present, checked.rationale_present, checked.evidence_present),
    ]
    return [f for f in found if f is not None]


def budget_violation(spec: WorkingSpec, checked: CheckedPlea, assessed: Sequence[Eligibility],
                     policy: Policy) -> tuple[Violation | None, int, int]:
    """Checked against the spec budget; waived only if the effective budget (with deltas) covers it."""
    files, loc, raisers = effective_budget(spec.max_files, spec.max_loc, assessed, policy)
    raw = check_budget(checked.stats, spec.max_files, spec.max_loc)
    if raw is None:
        return None, files, loc
    waivable = policy.is_waivable("budget_limit")
    effective = f"effective max_files {files}, max_loc {loc}"
    if raisers and check_budget(checked.stats, files, loc) is None and waivable:
        return Violation("budget_limit", f"{raw.message}; covered by waiver delta(s) {', '.join(raisers)} "
                                         f"({effective})", True, raisers[0]), files, loc
    suffix = f" (with waiver deltas of {', '.join(raisers)}: {effective})" if raisers else ""
    return Violation("budget_limit", raw.message + suffix, waivable, None), files, loc


def examine_plea(spec: WorkingSpec, checked: CheckedPlea, assessed: Sequence[Eligibility],
                 policy: Policy, judge: Judge) -> Examination:
    findings = findings_for(spec, checked, policy)
    budget, files, loc = budget_violation(spec, checked, assessed, policy)
    failed = {f.gate for f in findings} | ({"budget_limit"} if budget else set())
    text = render_candidate(spec, checked.stats, checked.plea.rationale, checked.evidence_items, failed)
    score = judge.score(render_prompt(spec), text)
    if policy.judge_mode == "enforce" and score.score < policy.judge_min_score:
        findings.append(Finding("judge_review", f"Judge score {score.score:.2f} is below "
                                                f"judge_min_score {policy.judge_min_score:.2f} (judge_mode enforce)"))
    violations = [budget] if budget else []
    for finding in findings:
        waivers = applicable(assessed, finding.gate, policy)
        violations.append(Violation(finding.gate, finding.message, policy.is_waivable(finding.gate),
                                    waivers[0].id if waivers else None))
    violations.sort(key=lambda v: GATES.index(v.gate))
    return Examination(checked, decide(violations), tuple(violations), files, loc, score)


def select(examinations: Sequence[Examination]) -> int:
    """Index of the winner: best status, then highest Judge score, then first submitted."""
    order = sorted(range(len(examinations)), key=lambda i: (
        STATUS_RANK[examinations[i].status], -examinations[i].judge.score, i))
    return order[0]


def adjudicate(spec: WorkingSpec, pleas: Sequence[Plea], *, change_id: str, now: dt.datetime,
               policy: Policy, waivers: Sequence[Waiver] = (), judge: Judge | None = None,
               path: str = "$.candidates") -> Result[dict[str, Any]]:
    """Decide a change. `now` is required and must be timezone-aware: the core never reads a clock.

    Returns `Err` with field paths for invalid pleas; otherwise the schema-valid verdict record,
    identical for identical inputs (its `verdict_id` is derived from them).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    checked = check_pleas(pleas, path)
    if isinstance(checked, Err):
        return checked
    judge = judge if judge is not None else DeterministicJudge()
    assessed = assess(waivers, spec.id, now, policy)
    exams = tuple(examine_plea(spec, c, assessed, policy, judge) for c in checked.value)
    return Ok(build_record(spec, exams, select(exams), assessed, change_id=change_id, now=now,
                           policy=policy, judge=judge, waivers=waivers))
