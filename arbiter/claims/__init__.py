"""Claimify (Metropolitansky & Larson 2025) plus CAWS verification of the extracted claims.

Stages: `selection` -> `disambiguation` -> `decomposition` -> `verification` (policy gate,
c / c_max retrieval, a pluggable 3-way entailment judge, outcomes 1-7). `pipeline.claimify`
runs them and returns the CONTRACTS §1 response; `metrics.claim_metrics` scores claims
against gold claims.
"""

from arbiter.claims.entailment import EntailmentJudge, LexicalJudge, Triage
from arbiter.claims.metrics import ClaimMetrics, claim_metrics
from arbiter.claims.pipeline import claimify

__all__ = ["ClaimMetrics", "EntailmentJudge", "LexicalJudge", "Triage", "claim_metrics", "claimify"]
