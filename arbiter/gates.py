"""Gate results of a plea and the gates that read them (CONTRACTS 2.3).

`coverage_threshold` and `mutation_threshold` compare against the tier minimums of the policy
(inclusive: 0.90 passes on tier 1); a missing value is a violation. `contract_compliance` and
`manual_review` apply where the tier requires them; `tests` needs `tests_pass: true`; `lint`
fails only on an explicit `lint_pass: false`; `provenance` needs diff, rationale and evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arbiter.codec import normalize
from arbiter.examine import Finding
from arbiter.policy import TierPolicy
from arbiter.result import Err, Ok, Result
from arbiter.schema import validate


@dataclass(frozen=True)
class GateResults:
    tests_pass: bool | None = None
    lint_pass: bool | None = None
    coverage_branch: float | None = None
    mutation_score: float | None = None
    contracts_consumer: bool = False
    contracts_provider: bool = False
    reviewed_by: str | None = None


def parse_gate_results(data: Mapping[str, Any] | None) -> Result[GateResults]:
    """Schema-checked; `None` means no results were submitted (every gate then reads as missing)."""
    if data is None:
        return Ok(GateResults())
    data = normalize(data)
    errors = validate("gate_results", data)
    if errors:
        return Err(errors)
    contracts = data.get("contracts") or {}
    review = data.get("manual_review") or {}
    return Ok(GateResults(
        tests_pass=data.get("tests_pass"),
        lint_pass=data.get("lint_pass"),
        coverage_branch=data.get("coverage_branch"),
        mutation_score=data.get("mutation_score"),
        contracts_consumer=contracts.get("consumer") is True,
        contracts_provider=contracts.get("provider") is True,
        reviewed_by=(review.get("approved_by") or "").strip() or None,
    ))


def _threshold(gate: str, label: str, value: float | None, minimum: float, tier: int) -> Finding | None:
    if value is None:
        return Finding(gate, f"{label} is missing; tier {tier} requires at least {minimum:.2f}")
    if value < minimum:
        return Finding(gate, f"{label} {value:.2f} is below the tier {tier} minimum {minimum:.2f}")
    return None


def check_coverage(results: GateResults, tier: TierPolicy, risk_tier: int) -> Finding | None:
    return _threshold("coverage_threshold", "branch coverage", results.coverage_branch,
                      tier.coverage_branch, risk_tier)


def check_mutation(results: GateResults, tier: TierPolicy, risk_tier: int) -> Finding | None:
    return _threshold("mutation_threshold", "mutation score", results.mutation_score,
                      tier.mutation_score, risk_tier)


def check_contracts(results: GateResults, tier: TierPolicy, risk_tier: int) -> Finding | None:
    if not tier.contracts_required or (results.contracts_consumer and results.contracts_provider):
        return None
    failing = [side for side, ok in (("consumer", results.contracts_consumer),
                                     ("provider", results.contracts_provider)) if not ok]
    return Finding("contract_compliance",
                   f"tier {risk_tier} requires passing consumer and provider contract tests; "
                   f"not passing: {', '.join(failing)}")


def check_lint(results: GateResults) -> Finding | None:
    return Finding("lint", "lint_pass is false") if results.lint_pass is False else None


def check_tests(results: GateResults) -> Finding | None:
    if results.tests_pass is True:
        return None
    actual = "missing" if results.tests_pass is None else "false"
    return Finding("tests", f"tests_pass is {actual}; tests must pass")


def check_manual_review(results: GateResults, tier: TierPolicy, risk_tier: int) -> Finding | None:
    if not tier.manual_review_required or results.reviewed_by:
        return None
    return Finding("manual_review", f"tier {risk_tier} requires manual_review.approved_by; none given")


def check_provenance(diff_present: bool, rationale_present: bool, evidence_present: bool) -> Finding | None:
    missing = [name for name, ok in (("diff", diff_present), ("rationale", rationale_present),
                                     ("evidence manifest with items", evidence_present)) if not ok]
    if not missing:
        return None
    return Finding("provenance", f"missing {', '.join(missing)}")
