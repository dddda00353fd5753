"""The 3-way entailment judge: does a piece of evidence support, contradict, or not settle a claim?

`EntailmentJudge` is the interface the service fills with the trained Judge. `LexicalJudge` is
the deterministic default: it compares numbers by what they measure (the words just before
them), looks for negation and antonym flips on otherwise matching text, and measures how much of
the claim's content the evidence states. Its probabilities sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from arbiter.claims.text import Quantity, content_stems, has_negation, quantities, stem

_ANTONYMS = (("pass", "fail"), ("succeed", "fail"), ("success", "failure"), ("increas", "decreas"),
             ("add", "remov"), ("enabl", "disabl"), ("true", "false"), ("valid", "invalid"), ("higher", "lower"),
             ("faster", "slower"), ("rose", "fell"), ("rise", "fall"), ("above", "below"), ("green", "red"),
             ("accept", "reject"), ("improv", "regress"), ("merg", "revert"))


@dataclass(frozen=True)
class Triage:
    support: float
    contradict: float
    insufficient: float

    def to_dict(self) -> dict[str, float]:
        return {"support": self.support, "contradict": self.contradict, "insufficient": self.insufficient}


@runtime_checkable
class EntailmentJudge(Protocol):
    name: str

    def triage(self, evidence: str, claim: str) -> Triage: ...


def _triage(support: float, contradict: float) -> Triage:
    support, contradict = round(support, 4), round(contradict, 4)
    return Triage(support, contradict, round(max(0.0, 1.0 - support - contradict), 4))


def _same(claimed: Quantity, stated: Quantity) -> bool:
    """Equal at the precision the claim is written in: "25.5%" matches 25.52, "214" never 215."""
    return abs(claimed.value - stated.value) <= claimed.tolerance + 1e-9


def _aligned(q: Quantity, e: Quantity) -> bool:
    """Two numbers measure the same thing: shared key words, and no unit clash."""
    if q.unit and e.unit and q.unit != e.unit:
        return False
    return bool(q.key & e.key) if q.key and e.key else (q.unit is not None and q.unit == e.unit)


def compare_numbers(claim: str, evidence: str) -> str:
    """'match' (every claimed number is stated), 'mismatch' (one is stated otherwise) or 'unknown'."""
    claimed, stated = quantities(claim), quantities(evidence)
    if not claimed:
        return "none"
    verdicts = []
    for q in claimed:
        rivals = [e for e in stated if _aligned(q, e)]
        if any(_same(q, e) for e in rivals):
            verdicts.append("match")
        elif rivals:
            return "mismatch"
        else:
            verdicts.append("unknown")
    return "match" if all(v == "match" for v in verdicts) else "unknown"


def _mentions(stems: set[str], prefix: str) -> bool:
    return any(s == prefix or (len(prefix) >= 4 and s.startswith(prefix)) for s in stems)


def antonym_flip(claim_stems: set[str], evidence_stems: set[str]) -> bool:
    """The claim says X where the evidence says only its opposite (passed vs failed, ...)."""
    for a, b in _ANTONYMS:
        for x, y in ((a, b), (b, a)):
            if (_mentions(claim_stems, x) and _mentions(evidence_stems, y)
                    and not _mentions(evidence_stems, x)):
                return True
    return False


class LexicalJudge:
    """Deterministic lexical/numeric entailment; the default until the trained Judge is plugged in."""

    name = "lexical-numeric/v1"

    def triage(self, evidence: str, claim: str) -> Triage:
        claim_stems, evidence_stems = content_stems(claim), content_stems(evidence)
        if not claim_stems:
            return _triage(0.0, 0.0)
        coverage = len(claim_stems & evidence_stems) / len(claim_stems)
        numbers = compare_numbers(claim, evidence)
        related = coverage >= 0.5
        flipped = antonym_flip(claim_stems, evidence_stems) or has_negation(claim) != has_negation(evidence)
        if related and (numbers == "mismatch" or flipped):
            return _triage(0.02, 0.6 + 0.35 * coverage)
        if numbers == "match" and related:
            return _triage(0.6 + 0.35 * coverage, 0.02)
        if numbers == "unknown":
            return _triage(min(0.45, 0.5 * coverage), 0.02)
        return _triage(0.9 * coverage if coverage >= 0.6 else 0.5 * coverage, 0.02)


def negation_mismatch(claim: str, evidence: str) -> bool:
    return has_negation(claim) != has_negation(evidence)


__all__ = ["EntailmentJudge", "LexicalJudge", "Triage", "compare_numbers", "negation_mismatch", "stem"]
