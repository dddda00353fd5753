"""The CAWS policy (`configs/caws/policy.yaml`) as a typed, validated, immutable object.

`parse_policy(data)` runs the schema, then the semantic rules, and returns `Ok(Policy)` or
`Err(diagnostics)`; `arbiter.loaders.read_policy(path)` reads the file for callers at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arbiter.codec import normalize, sha256_hex
from arbiter.result import Diagnostic, Err, Ok, Result
from arbiter.schema import validate

GATES = (
    "budget_limit", "scope_boundary", "naming", "coverage_threshold", "mutation_threshold",
    "contract_compliance", "lint", "tests", "manual_review", "provenance", "judge_review",
)


@dataclass(frozen=True)
class TierPolicy:
    coverage_branch: float
    mutation_score: float
    contracts_required: bool
    manual_review_required: bool


@dataclass(frozen=True)
class TrustPolicy:
    waiver_cap: int
    weights: tuple[tuple[str, float], ...]
    coverage_target: float
    mutation_target: float


@dataclass(frozen=True)
class ClaimsPolicy:
    superlatives: tuple[str, ...]
    status_terms: tuple[str, ...]
    benchmark_terms: tuple[str, ...]
    required_artifacts: tuple[tuple[str, tuple[str, ...]], ...]
    allowed_json_fields: tuple[str, ...]
    support: float
    contradict: float
    insufficient: float
    top_k: int
    min_overlap: float
    coverage_min: float
    negation_penalty: float

    def artifacts_for(self, category: str) -> tuple[str, ...]:
        return dict(self.required_artifacts).get(category, ())


@dataclass(frozen=True)
class Policy:
    tiers: tuple[tuple[int, TierPolicy], ...]
    waivable: frozenset[str]
    min_approvers: int
    min_approvers_for_budget_raise: int
    judge_mode: str
    judge_min_score: float
    trust: TrustPolicy
    claims: ClaimsPolicy
    sha256: str

    def tier(self, risk_tier: int) -> TierPolicy:
        return dict(self.tiers)[risk_tier]

    def is_waivable(self, gate: str) -> bool:
        return gate in self.waivable


def parse_policy(data: Any) -> Result[Policy]:
    """Schema, then semantics, then the typed object."""
    data = normalize(data)
    errors = validate("policy", data)
    if errors:
        return Err(errors)
    semantic = _semantic_errors(data)
    if semantic:
        return Err(semantic)
    return Ok(_build(data))


def _semantic_errors(data: dict[str, Any]) -> tuple[Diagnostic, ...]:
    errors = []
    waivers = data["waivers"]
    if waivers["min_approvers_for_budget_raise"] < waivers["min_approvers"]:
        errors.append(Diagnostic(
            "policy.semantic.budget_raise_approvers", "$.waivers.min_approvers_for_budget_raise",
            "must be at least min_approvers: raising a budget never needs fewer approvals"))
    for gate in ("tests", "manual_review", "provenance"):
        if data["gates"][gate]["waivable"]:
            errors.append(Diagnostic("policy.semantic.non_waivable", f"$.gates.{gate}.waivable",
                                     f"gate {gate} is pinned non-waivable by CONTRACTS 2.3"))
    if sum(data["trust"]["weights"].values()) <= 0:
        errors.append(Diagnostic("policy.semantic.trust_weights", "$.trust.weights",
                                 "weights must not all be 0"))
    return tuple(errors)


def _build(data: dict[str, Any]) -> Policy:
    claims, trust = data["claims"], data["trust"]
    return Policy(
        tiers=tuple((int(k), TierPolicy(**v)) for k, v in sorted(data["tiers"].items())),
        waivable=frozenset(g for g, v in data["gates"].items() if v["waivable"]),
        min_approvers=data["waivers"]["min_approvers"],
        min_approvers_for_budget_raise=data["waivers"]["min_approvers_for_budget_raise"],
        judge_mode=data["judge_mode"],
        judge_min_score=float(data["judge_min_score"]),
        trust=TrustPolicy(
            waiver_cap=trust["waiver_cap"],
            weights=tuple((k, float(v)) for k, v in sorted(trust["weights"].items())),
            coverage_target=float(trust["coverage_target"]),
            mutation_target=float(trust["mutation_target"]),
        ),
        claims=ClaimsPolicy(
            superlatives=tuple(w.lower() for w in claims["superlatives"]),
            status_terms=tuple(w.lower() for w in claims["status_terms"]),
            benchmark_terms=tuple(w.lower() for w in claims["benchmark_terms"]),
            required_artifacts=tuple((k, tuple(v)) for k, v in sorted(claims["required_artifacts"].items())),
            allowed_json_fields=tuple(claims["allowed_json_fields"]),
            support=float(claims["thresholds"]["support"]),
            contradict=float(claims["thresholds"]["contradict"]),
            insufficient=float(claims["thresholds"]["insufficient"]),
            top_k=claims["retrieval"]["top_k"],
            min_overlap=float(claims["retrieval"]["min_overlap"]),
            coverage_min=float(claims["coverage_min"]),
            negation_penalty=float(claims["negation_penalty"]),
        ),
        sha256=sha256_hex(data),
    )
