"""Labels of a candidate plea: the arbiter's examination plus explicit evidence and rationale rules.

The arbiter (`arbiter.verdict.examine_plea`) decides the status and the violated gates of the
rendered plea; the Judge text is the arbiter's own `render_prompt` / `render_candidate`, exactly
what the service feeds the Judge during adjudication. The five clauses are then, for one plea:

    EVIDENCE_COMPLETENESS  the manifest holds at least the tier's number of items (T1 3, T2 2, T3 1)
    BUDGET_ADHERENCE       the arbiter finds no `budget_limit` violation against the spec budget
                           (waiver deltas excepted: a raise is the arbiter's business, not the plea's merit)
    GATE_INTEGRITY         the arbiter finds none of the judged gates violated (tests, lint, coverage,
                           mutation, contracts, scope, naming)
    PROVENANCE_CLARITY     no `provenance` violation and a specific rationale: at least 8 words, a code
                           location (`src/...` or `tests/...`) and a stated purpose (so that, to fix, ...)
    WAIVER_JUSTIFICATION   no waivable gate is violated, or the rationale cites a waiver id (WV-nnnn)
                           with a reason (because, due to, since) and a mitigation (mitigation,
                           rollback, feature flag, revert)

A pair's winner is the better arbiter status (PASS > WAIVER_REQUIRED > FAIL); with equal status the
higher `quality` (clause weights, minus 0.05 per violated judged or budget gate) wins; equal
quality is a tie.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from arbiter.judge import CLAUSES, JUDGED_GATES, DeterministicJudge, render_candidate, render_prompt
from arbiter.pleas import Plea, check_pleas
from arbiter.policy import Policy
from arbiter.result import Err
from arbiter.spec import WorkingSpec, parse_spec
from arbiter.verdict import STATUS_RANK, examine_plea
from arbiter.waivers import assess, parse_waivers

EVIDENCE_MINIMUM = {1: 3, 2: 2, 3: 1}
CLAUSE_WEIGHTS = {"EVIDENCE_COMPLETENESS": 0.4, "BUDGET_ADHERENCE": 0.3, "GATE_INTEGRITY": 0.2,
                  "PROVENANCE_CLARITY": 0.1, "WAIVER_JUSTIFICATION": 0.1}
GATE_PENALTY = 0.05
WAIVABLE_SHOWN = frozenset({"budget_limit", *JUDGED_GATES}) - {"tests"}

_LOCATION = re.compile(r"\b(?:src|tests)/\S+")
_PURPOSE = re.compile(r"\b(?:so that|in order to|to (?:fix|prevent|avoid|support|keep|stop|make))\b", re.I)
_WAIVER_ID = re.compile(r"\bWV-\d{4}\b")
_REASON = re.compile(r"\b(?:because|due to|since)\b", re.I)
_MITIGATION = re.compile(r"\b(?:mitigation|roll(?:s|ed)? (?:it )?back|rollback|feature flag|revert)", re.I)


@dataclass(frozen=True)
class Labelled:
    """One examined candidate: the Judge's input text and what it should learn about it."""

    prompt: str
    text: str
    status: str
    violations: tuple[str, ...]
    clauses: tuple[str, ...]  # the satisfied ones, in CLAUSES order
    quality: float


def specific_rationale(rationale: str) -> bool:
    return len(rationale.split()) >= 8 and bool(_LOCATION.search(rationale)) and bool(_PURPOSE.search(rationale))


def justified_waiver(rationale: str) -> bool:
    return bool(_WAIVER_ID.search(rationale) and _REASON.search(rationale) and _MITIGATION.search(rationale))


def clauses_of(spec: WorkingSpec, evidence_items: int, rationale: str, violated: set[str]) -> tuple[str, ...]:
    satisfied = {
        "EVIDENCE_COMPLETENESS": evidence_items >= EVIDENCE_MINIMUM[spec.risk_tier],
        "BUDGET_ADHERENCE": "budget_limit" not in violated,
        "GATE_INTEGRITY": not violated & set(JUDGED_GATES),
        "PROVENANCE_CLARITY": "provenance" not in violated and specific_rationale(rationale),
        "WAIVER_JUSTIFICATION": not violated & WAIVABLE_SHOWN or justified_waiver(rationale),
    }
    return tuple(c for c in CLAUSES if satisfied[c])


def quality(clauses: tuple[str, ...], violated: set[str]) -> float:
    shown = violated & (set(JUDGED_GATES) | {"budget_limit"})
    return round(sum(CLAUSE_WEIGHTS[c] for c in clauses) - GATE_PENALTY * len(shown), 4)


class Examiner:
    """Examines pleas of one scenario with the arbiter; the spec and waivers are parsed once."""

    def __init__(self, spec_doc: dict, waiver_docs: list[dict], now, policy: Policy):
        spec = parse_spec(spec_doc)
        waivers = parse_waivers(waiver_docs)
        if isinstance(spec, Err) or isinstance(waivers, Err):
            errors = spec.errors if isinstance(spec, Err) else waivers.errors
            raise ValueError(f"synthesised scenario does not validate: {errors}")
        self.spec, self.policy = spec.value, policy
        self.assessed = assess(waivers.value, self.spec.id, now, policy)
        self.prompt = render_prompt(self.spec)

    def examine(self, plea: Plea) -> Labelled:
        checked = check_pleas([plea])
        if isinstance(checked, Err):
            raise ValueError(f"synthesised plea does not validate: {checked.errors}")
        c = checked.value[0]
        exam = examine_plea(self.spec, c, self.assessed, self.policy, DeterministicJudge())
        violated = {v.gate for v in exam.violations}
        text = render_candidate(self.spec, c.stats, plea.rationale, c.evidence_items, violated)
        clauses = clauses_of(self.spec, c.evidence_items, plea.rationale, violated)
        return Labelled(self.prompt, text, exam.status, tuple(sorted(violated)), clauses, quality(clauses, violated))


def winner(a: Labelled, b: Labelled) -> str:
    """'a', 'b' or 'tie': better arbiter status first, then higher quality."""
    if STATUS_RANK[a.status] != STATUS_RANK[b.status]:
        return "a" if STATUS_RANK[a.status] < STATUS_RANK[b.status] else "b"
    if abs(a.quality - b.quality) < 1e-6:
        return "tie"
    return "a" if a.quality > b.quality else "b"
