"""Claim extraction metrics: precision, recall and F1 of predicted claims against gold claims.

A predicted claim matches a gold claim when the Jaccard similarity of their content stems
(numbers included) reaches `threshold`; matching is one-to-one, best pairs first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from arbiter.claims.text import content_stems


@dataclass(frozen=True)
class ClaimMetrics:
    precision: float
    recall: float
    f1: float
    matched: int
    predicted: int
    gold: int


def similarity(a: str, b: str) -> float:
    sa, sb = content_stems(a, keep_numbers=True), content_stems(b, keep_numbers=True)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def claim_metrics(predicted: Sequence[str], gold: Sequence[str], threshold: float = 0.6) -> ClaimMetrics:
    pairs = sorted(((similarity(p, g), i, j) for i, p in enumerate(predicted) for j, g in enumerate(gold)),
                   key=lambda t: (-t[0], t[1], t[2]))
    used_p: set[int] = set()
    used_g: set[int] = set()
    for score, i, j in pairs:
        if score >= threshold and i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
    matched = len(used_p)
    precision = matched / len(predicted) if predicted else (1.0 if not gold else 0.0)
    recall = matched / len(gold) if gold else (1.0 if not predicted else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ClaimMetrics(round(precision, 4), round(recall, 4), round(f1, 4), matched, len(predicted), len(gold))
