"""Claimify stage 4 (CAWS): verify a claim against an evidence manifest.

1. Policy gate (`evidence.policy_gate`): a failure is INSUFFICIENT_EVIDENCE, outcome 6.
2. Retrieve evidence for the claim c (Ec) and for its maximally contextualized form c_max (Emax);
   both empty -> INSUFFICIENT_EVIDENCE, outcome 7.
3. Triage three pairs with the entailment judge: (Ec, c), (Emax, c_max), (Ec, c_max). A pair is
   `contradict` if any chunk contradicts at or above the threshold (contradiction takes
   precedence), else `support` if its best chunk supports at or above the threshold, else
   `insufficient`.
4. Outcome: 5 any contradiction; 1 c = c_max and supported; 2 all three supported; 3 c supported
   but not via c_max; 4 c_max supported but c not; 7 all three insufficient; 6 otherwise.
5. VERIFIED needs outcome 1, 2 or 4, element coverage ≥ coverage_min and no negation mismatch;
   outcome 5 is UNVERIFIED; everything else INSUFFICIENT_EVIDENCE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arbiter.claims.entailment import EntailmentJudge, Triage, compare_numbers, negation_mismatch
from arbiter.claims.evidence import Chunk, policy_gate, retrieve
from arbiter.claims.text import content_stems
from arbiter.policy import ClaimsPolicy

VERIFIABLE_OUTCOMES = frozenset({1, 2, 4})


@dataclass(frozen=True)
class PairResult:
    label: str  # support | contradict | insufficient
    triage: Triage
    chunk: Chunk | None


def judge_pair(chunks: Sequence[Chunk], claim: str, judge: EntailmentJudge, policy: ClaimsPolicy) -> PairResult:
    if not chunks:
        return PairResult("insufficient", Triage(0.0, 0.0, 1.0), None)
    scored = [(judge.triage(c.text, claim), c) for c in chunks]
    worst = max(scored, key=lambda s: s[0].contradict)
    if worst[0].contradict >= policy.contradict:
        return PairResult("contradict", worst[0], worst[1])
    best = max(scored, key=lambda s: s[0].support)
    label = "support" if best[0].support >= policy.support else "insufficient"
    return PairResult(label, best[0], best[1])


def classify(same: bool, p1: PairResult, p2: PairResult, p3: PairResult) -> int:
    labels = (p1.label, p2.label, p3.label)
    if "contradict" in labels:
        return 5
    if same and p1.label == "support":
        return 1
    if labels == ("support", "support", "support"):
        return 2
    if p1.label == "support":
        return 3
    if p2.label == "support":
        return 4
    return 7 if labels == ("insufficient",) * 3 else 6


def element_coverage(claim: str, chunk: Chunk | None, penalty: float) -> tuple[float, bool]:
    """Share of the claim's elements (content words and numbers) the deciding chunk states."""
    if chunk is None:
        return 0.0, False
    wanted = content_stems(claim)
    words = len(wanted & chunk.stems) / len(wanted) if wanted else 0.0
    numbers = compare_numbers(claim, chunk.text)
    score = words if numbers == "none" else (words + (1.0 if numbers == "match" else 0.0)) / 2
    mismatch = negation_mismatch(claim, chunk.text)
    return round(max(0.0, score - (penalty if mismatch else 0.0)), 4), mismatch


def status_for(outcome: int, coverage: float, mismatch: bool, policy: ClaimsPolicy) -> str:
    if outcome == 5:
        return "UNVERIFIED"
    if outcome in VERIFIABLE_OUTCOMES and coverage >= policy.coverage_min and not mismatch:
        return "VERIFIED"
    return "INSUFFICIENT_EVIDENCE"


def verify_claim(statement: str, c_max: str, manifest: Mapping[str, Any] | None, pool: Sequence[Chunk],
                 policy: ClaimsPolicy, judge: EntailmentJudge, fingerprint: str) -> dict[str, Any]:
    gate = policy_gate(statement, manifest, policy)
    base = {"categories": list(gate.categories), "policy_gate": {"passed": gate.passed, "reasons": list(gate.reasons)},
            "c_max": c_max, "fingerprint": fingerprint}
    if not gate.passed:
        return {**base, **_result("INSUFFICIENT_EVIDENCE", 6, [], [], None, 0.0, False,
                                  [f"policy gate: {r}" for r in gate.reasons])}
    ec, emax = retrieve(statement, pool, policy), retrieve(c_max, pool, policy)
    if not ec and not emax:
        return {**base, **_result("INSUFFICIENT_EVIDENCE", 7, [], [], None, 0.0, False,
                                  ["no evidence retrieved for c or c_max"])}
    p1, p2, p3 = (judge_pair(ec, statement, judge, policy), judge_pair(emax, c_max, judge, policy),
                  judge_pair(ec, c_max, judge, policy))
    outcome = classify(statement == c_max, p1, p2, p3)
    deciding = next((p for p in (p1, p2, p3) if p.label == "contradict"), p2 if outcome == 4 else p1)
    coverage, mismatch = element_coverage(statement, deciding.chunk, policy.negation_penalty)
    trail = [f"pair {name}: {p.label} via {p.chunk.evidence_id if p.chunk else '-'} "
             f"(support {p.triage.support:.2f}, contradict {p.triage.contradict:.2f})"
             for name, p in (("(Ec, c)", p1), ("(Emax, c_max)", p2), ("(Ec, c_max)", p3))]
    status = status_for(outcome, coverage, mismatch, policy)
    return {**base, **_result(status, outcome, [c.evidence_id for c in ec], [c.evidence_id for c in emax],
                              deciding.triage, coverage, mismatch, [*trail, f"outcome {outcome} -> {status}"])}


def _result(status: str, outcome: int, ec: list[str], emax: list[str], triage: Triage | None, coverage: float,
            mismatch: bool, trail: list[str]) -> dict[str, Any]:
    triage = triage or Triage(0.0, 0.0, 1.0)
    return {"status": status, "outcome_id": outcome, "evidence": {"c": ec, "c_max": emax},
            "entailment_triage": triage.to_dict(), "element_coverage": coverage, "negation_mismatch": mismatch,
            "trail": trail}
