"""Pleas: what a candidate submits (diff, rationale, evidence manifest, gate results), checked.

`parse_pleas` validates every plea and collects every error with its field path, e.g.
`$.candidates[1].diff: line 7`. `pleas_from_request` reads the CONTRACTS §1 body: one plea at
top level or `candidates: [plea, ...]` (1..8), never both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arbiter.codec import normalize
from arbiter.diffs import DiffStats, parse_diff
from arbiter.gates import GateResults, parse_gate_results
from arbiter.result import Diagnostic, Err, Ok, Result
from arbiter.schema import validate

MAX_CANDIDATES = 8
PLEA_FIELDS = ("diff", "rationale", "evidence_manifest", "gate_results")


@dataclass(frozen=True)
class Plea:
    """One candidate's submission, as given. `evidence_manifest` None means none was submitted."""

    candidate_id: str
    diff: str
    rationale: str = ""
    evidence_manifest: Mapping[str, Any] | None = None
    gate_results: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CheckedPlea:
    plea: Plea
    stats: DiffStats
    results: GateResults
    evidence_items: int

    @property
    def diff_present(self) -> bool:
        return self.stats.file_count > 0

    @property
    def rationale_present(self) -> bool:
        return bool(self.plea.rationale.strip())

    @property
    def evidence_present(self) -> bool:
        return self.evidence_items > 0


def check_plea(plea: Plea, path: str) -> Result[CheckedPlea]:
    errors: list[Diagnostic] = []
    stats = parse_diff(plea.diff)
    if isinstance(stats, Err):
        errors += [Diagnostic(d.rule, f"{path}.diff: {d.path}", d.message) for d in stats.errors]
    if not isinstance(plea.rationale, str):
        errors.append(Diagnostic("plea.schema.type", f"{path}.rationale", "rationale is text"))
    results = parse_gate_results(plea.gate_results)
    if isinstance(results, Err):
        errors += [_under(d, f"{path}.gate_results") for d in results.errors]
    manifest = normalize(plea.evidence_manifest) if plea.evidence_manifest is not None else None
    if manifest is not None:
        errors += [_under(d, f"{path}.evidence_manifest") for d in validate("evidence_manifest", manifest)]
    if errors:
        return Err(tuple(errors))
    items = len(manifest.get("evidence_items", ())) if isinstance(manifest, dict) else 0
    return Ok(CheckedPlea(plea, stats.value, results.value, items))


def check_pleas(pleas: Sequence[Plea], path: str = "$.candidates") -> Result[tuple[CheckedPlea, ...]]:
    if not 1 <= len(pleas) <= MAX_CANDIDATES:
        return Err((Diagnostic("plea.count", path, f"1 to {MAX_CANDIDATES} candidates, got {len(pleas)}"),))
    ids = [p.candidate_id for p in pleas]
    if len(set(ids)) != len(ids) or not all(isinstance(i, str) and i for i in ids):
        return Err((Diagnostic("plea.candidate_id", path, "candidate ids must be unique, non-empty text"),))
    checked, errors = [], []
    for i, plea in enumerate(pleas):
        where = path if path == "$" and len(pleas) == 1 else f"{path}[{i}]"
        result = check_plea(plea, where)
        if isinstance(result, Err):
            errors.extend(result.errors)
        else:
            checked.append(result.value)
    return Err(tuple(errors)) if errors else Ok(tuple(checked))


def pleas_from_request(body: Mapping[str, Any]) -> Result[tuple[Plea, ...]]:
    """The plea(s) of an adjudication request body; the single plea is named after `change_id`.

    Check them with `check_pleas(pleas, "$")` for a top-level plea, so paths read `$.diff`.
    """
    has_top = any(k in body for k in PLEA_FIELDS)
    if "candidates" in body and has_top:
        return Err((Diagnostic("plea.shape", "$", "give one plea at top level or candidates, not both"),))
    if "candidates" not in body:
        return Ok((_plea(body, str(body.get("change_id") or "primary")),))
    items = body["candidates"]
    if not isinstance(items, list) or not all(isinstance(c, Mapping) for c in items):
        return Err((Diagnostic("plea.shape", "$.candidates", "candidates is a list of pleas"),))
    missing = [i for i, c in enumerate(items) if not c.get("candidate_id")]
    if missing:
        return Err((Diagnostic("plea.candidate_id", f"$.candidates[{missing[0]}].candidate_id",
                               "required field 'candidate_id' is missing"),))
    return Ok(tuple(_plea(c, str(c["candidate_id"])) for c in items))


def _plea(data: Mapping[str, Any], candidate_id: str) -> Plea:
    return Plea(candidate_id=candidate_id, diff=data.get("diff", ""), rationale=data.get("rationale") or "",
                evidence_manifest=data.get("evidence_manifest"), gate_results=data.get("gate_results"))


def _under(d: Diagnostic, prefix: str) -> Diagnostic:
    return Diagnostic(d.rule, prefix + d.path[1:], d.message)
