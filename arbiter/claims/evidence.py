"""Claim verification inputs: the claims policy gate and evidence retrieval for c and c_max.

Policy gate (before any entailment): a claim is classified SUPERLATIVE, STATUS, BENCHMARK and/or
QUANT. Superlatives are never verified. STATUS, BENCHMARK and QUANT claims need an artifact of a
type the policy names for them, and numeric claims need a readable value at an allow-listed
`json_path` of such an artifact. Retrieval ranks evidence chunks (manifest item sentences and
artifact fields) by the share of the claim's content words they contain.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arbiter.claims.text import content_stems, split_sentences
from arbiter.policy import ClaimsPolicy


@dataclass(frozen=True)
class GateOutcome:
    categories: tuple[str, ...]
    passed: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Chunk:
    evidence_id: str
    text: str
    stems: frozenset[str]


def _has_term(text: str, terms: Sequence[str]) -> bool:
    low = text.lower()
    return any(re.search(rf"(?<![\w-]){re.escape(t)}(?![\w-])", low) for t in terms)


def categorize(statement: str, policy: ClaimsPolicy) -> tuple[str, ...]:
    found = []
    if _has_term(statement, policy.superlatives) or re.search(r"\bmost\s+\w+(?:est)?\b", statement.lower()):
        found.append("SUPERLATIVE")
    if _has_term(statement, policy.status_terms):
        found.append("STATUS")
    if _has_term(statement, policy.benchmark_terms):
        found.append("BENCHMARK")
    if re.search(r"\d", statement):
        found.append("QUANT")
    return tuple(found)


def policy_gate(statement: str, manifest: Mapping[str, Any] | None, policy: ClaimsPolicy) -> GateOutcome:
    categories = categorize(statement, policy)
    artifacts = list((manifest or {}).get("artifacts", ()))
    reasons = []
    if "SUPERLATIVE" in categories:
        reasons.append("superlative claims are never verified")
    for category in ("STATUS", "BENCHMARK", "QUANT"):
        wanted = policy.artifacts_for(category)
        if category in categories and not any(a["type"] in wanted for a in artifacts):
            reasons.append(f"{category} claim needs an artifact of type {' or '.join(wanted)}")
    if "QUANT" in categories:
        numeric_types = set(policy.artifacts_for("QUANT")) | set(policy.artifacts_for("BENCHMARK"))
        if not any(a["type"] in numeric_types and _readable_allowed(a, policy) for a in artifacts):
            reasons.append("numeric claim needs a readable value at an allow-listed json_path "
                           f"({', '.join(policy.allowed_json_fields)})")
    return GateOutcome(categories, not reasons, tuple(reasons))


def _readable_allowed(artifact: Mapping[str, Any], policy: ClaimsPolicy) -> bool:
    path = artifact.get("json_path")
    return (path is not None and artifact.get("value") is not None
            and any(fnmatch.fnmatchcase(path, pattern) for pattern in policy.allowed_json_fields))


def chunks(manifest: Mapping[str, Any] | None, policy: ClaimsPolicy) -> list[Chunk]:
    """Evidence items split into sentences, plus one chunk per allow-listed artifact value."""
    out = []
    for item in (manifest or {}).get("evidence_items", ()):
        for j, sentence in enumerate(split_sentences(item["content"])):
            out.append(Chunk(f"{item['evidence_id']}#{j}", sentence, frozenset(content_stems(sentence))))
    for i, artifact in enumerate((manifest or {}).get("artifacts", ())):
        if _readable_allowed(artifact, policy):
            text = f"{artifact['json_path']} = {artifact['value']}"
            label = artifact.get("artifact_id") or f"artifact[{i}]"
            out.append(Chunk(label, text, frozenset(content_stems(text))))
    return out


def retrieve(query: str, pool: Sequence[Chunk], policy: ClaimsPolicy) -> list[Chunk]:
    """Top-k chunks by the share of the query's content stems they contain (≥ min_overlap)."""
    wanted = content_stems(query)
    if not wanted:
        return []
    scored = [(len(wanted & c.stems) / len(wanted), -i, c) for i, c in enumerate(pool)]
    kept = sorted((s for s in scored if s[0] >= policy.min_overlap and s[0] > 0), reverse=True)
    return [c for _, _, c in kept[: policy.top_k]]
