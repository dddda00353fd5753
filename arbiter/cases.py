"""Adjudication inputs from files, and agreement over a directory of labelled cases.

This module and `arbiter.loaders` are the arbiter's only I/O. A case is a directory holding
`case.yaml` (`expected_status`, `now`, optional `change_id`, `expected_winner`, `description`,
and optional `candidates: [{candidate_id, diff, rationale, evidence, gates}]` naming files), plus
the files it names; by default `spec.yaml`, `change.diff`, `rationale.txt`, `evidence.json`,
`gates.json` and, when present, `waivers.yaml`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbiter.codec import parse_time
from arbiter.loaders import read_structured, read_text
from arbiter.pleas import Plea
from arbiter.policy import Policy
from arbiter.result import Diagnostic, Err, Ok, Result
from arbiter.spec import WorkingSpec, parse_spec
from arbiter.verdict import adjudicate
from arbiter.waivers import Waiver, parse_waivers


@dataclass(frozen=True)
class PleaFiles:
    candidate_id: str
    diff: Path
    rationale: Path | None = None
    evidence: Path | None = None
    gates: Path | None = None


def read_plea(files: PleaFiles) -> Result[Plea]:
    """A plea from files; a missing optional file means that part was not submitted."""
    errors: list[Diagnostic] = []
    diff = read_text(files.diff, "diff")
    rationale = read_text(files.rationale, "rationale") if files.rationale else Ok("")
    evidence = read_structured(files.evidence, "evidence_manifest") if files.evidence else Ok(None)
    gates = read_structured(files.gates, "gate_results") if files.gates else Ok(None)
    for result in (diff, rationale, evidence, gates):
        if isinstance(result, Err):
            errors.extend(result.errors)
    if errors:
        return Err(tuple(errors))
    return Ok(Plea(files.candidate_id, diff.value, rationale.value, evidence.value, gates.value))


def read_spec(path: Path) -> Result[WorkingSpec]:
    text = read_text(path, "working_spec")
    if isinstance(text, Err):
        return text
    result = parse_spec(text.value)
    if isinstance(result, Err):
        return Err(tuple(Diagnostic(d.rule, f"{path}: {d.path}", d.message) for d in result.errors))
    return result


def read_waivers(path: Path | None) -> Result[tuple[Waiver, ...]]:
    if path is None:
        return Ok(())
    data = read_structured(path, "waiver")
    if isinstance(data, Err):
        return data
    result = parse_waivers(data.value)
    if isinstance(result, Err):
        return Err(tuple(Diagnostic(d.rule, f"{path}: {d.path}", d.message) for d in result.errors))
    return result


@dataclass(frozen=True)
class CaseOutcome:
    name: str
    expected: str
    actual: str
    expected_winner: str | None
    winner: str
    verdict_id: str

    @property
    def agrees(self) -> bool:
        return self.expected == self.actual and self.expected_winner in (None, self.winner)


def run_case(directory: Path, policy: Policy) -> Result[CaseOutcome]:
    meta = read_structured(directory / "case.yaml", "case")
    if isinstance(meta, Err):
        return meta
    case = meta.value if isinstance(meta.value, Mapping) else {}
    if case.get("expected_status") not in ("PASS", "FAIL", "WAIVER_REQUIRED") or "now" not in case:
        return Err((Diagnostic("case.schema", f"{directory / 'case.yaml'}",
                               "needs expected_status (PASS|FAIL|WAIVER_REQUIRED) and now"),))
    now = parse_time(str(case["now"]), f"{directory / 'case.yaml'}: $.now")
    spec = read_spec(directory / case.get("spec", "spec.yaml"))
    waiver_file = directory / case.get("waivers", "waivers.yaml")
    waivers = read_waivers(waiver_file if waiver_file.exists() else None)
    pleas = [read_plea(files) for files in _plea_files(directory, case)]
    failures = [d for r in (now, spec, waivers, *pleas) if isinstance(r, Err) for d in r.errors]
    if failures:
        return Err(tuple(failures))
    verdict = adjudicate(spec.value, [p.value for p in pleas], change_id=case.get("change_id", spec.value.id),
                         now=now.value, policy=policy, waivers=waivers.value)
    if isinstance(verdict, Err):
        return verdict
    record = verdict.value
    return Ok(CaseOutcome(directory.name, case["expected_status"], record["status"], case.get("expected_winner"),
                          record["winner_candidate_id"], record["verdict_id"]))


def _plea_files(directory: Path, case: Mapping[str, Any]) -> list[PleaFiles]:
    def optional(name: str | None) -> Path | None:
        return directory / name if name and (directory / name).exists() else None

    items: Sequence[Mapping[str, Any]] = case.get("candidates") or [{}]
    return [PleaFiles(str(c.get("candidate_id", case.get("change_id", "primary"))),
                      directory / c.get("diff", "change.diff"), optional(c.get("rationale", "rationale.txt")),
                      optional(c.get("evidence", "evidence.json")), optional(c.get("gates", "gates.json")))
            for c in items]


def agreement(root: Path, policy: Policy) -> Result[dict[str, Any]]:
    """Adjudicate every case directory under `root` and report how often the verdict agrees."""
    directories = sorted(p for p in root.iterdir() if (p / "case.yaml").is_file()) if root.is_dir() else []
    if not directories:
        return Err((Diagnostic("case.none", str(root), "no case directories (with case.yaml) found"),))
    outcomes, errors = [], []
    for directory in directories:
        result = run_case(directory, policy)
        if isinstance(result, Err):
            errors.extend(result.errors)
        else:
            outcomes.append(result.value)
    if errors:
        return Err(tuple(errors))
    agree = sum(o.agrees for o in outcomes)
    return Ok({"cases": len(outcomes), "agree": agree, "agreement": round(agree / len(outcomes), 4),
               "results": [{"case": o.name, "expected": o.expected, "actual": o.actual, "agrees": o.agrees,
                            "winner": o.winner, "verdict_id": o.verdict_id} for o in outcomes]})
