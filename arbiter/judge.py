"""The Judge interface and the deterministic scorer that stands in for the trained model.

The arbiter renders each plea as text (`render_prompt`, `render_candidate`) and asks a `Judge`
for a score in [0, 1] and one probability per CAWS clause. The service plugs the trained Judge
in behind the same Protocol. Scores are recorded (`clause_mappings`, `evidence_quality`) and
break ties between candidates of equal status; they change a status only when the policy sets
`judge_mode: enforce`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from arbiter.codec import sha256_hex
from arbiter.diffs import DiffStats
from arbiter.spec import WorkingSpec

JUDGED_GATES = ("tests", "lint", "coverage_threshold", "mutation_threshold", "contract_compliance",
                "scope_boundary", "naming")
CLAUSES = ("EVIDENCE_COMPLETENESS", "BUDGET_ADHERENCE", "GATE_INTEGRITY", "PROVENANCE_CLARITY",
           "WAIVER_JUSTIFICATION")


@dataclass(frozen=True)
class JudgeScore:
    score: float
    clauses: Mapping[str, float]

    def to_dict(self) -> dict[str, object]:
        """The `POST /caws/judge/score` response shape: {"score", "clauses": {name: prob}}."""
        return {"score": self.score, "clauses": {c: self.clauses.get(c, 0.0) for c in CLAUSES}}


@runtime_checkable
class Judge(Protocol):
    """What the arbiter needs from a Judge; `artifact_sha256` identifies the model (or None)."""

    artifact_sha256: str | None

    def score(self, prompt: str, candidate: str) -> JudgeScore: ...


def render_prompt(spec: WorkingSpec) -> str:
    return (f"CAWS working spec {spec.id} (tier {spec.risk_tier}, mode {spec.mode}): {spec.title}\n"
            f"budget: max_files {spec.max_files}, max_loc {spec.max_loc}\n"
            f"scope in: {', '.join(spec.scope_in)}; out: {', '.join(spec.scope_out) or '-'}")


def render_candidate(spec: WorkingSpec, stats: DiffStats, rationale: str, evidence_items: int,
                     failed_gates: Collection[str]) -> str:
    """The plea as the Judge reads it: one fact per line, the same for the model and the scorer.

    `budget` states the arbiter's own check against the spec budget (before waiver deltas), so the
    Judge reads the outcome instead of re-deriving it from digits."""
    gates = " ".join(f"{g}={'fail' if g in failed_gates else 'pass'}" for g in JUDGED_GATES)
    paths = " ".join(stats.touched_paths[:20])
    budget = "over" if "budget_limit" in failed_gates else "within"
    return (f"files: {stats.file_count} of {spec.max_files}\nloc: {stats.loc} of {spec.max_loc}\n"
            f"budget: {budget}\nevidence items: {evidence_items}\ngates: {gates}\npaths: {paths}\n"
            f"rationale: {' '.join(rationale.split())}")


_NUMBERS = {
    "files": re.compile(r"^files: (\d+) of (\d+)$", re.M),
    "loc": re.compile(r"^loc: (\d+) of (\d+)$", re.M),
    "evidence": re.compile(r"^evidence items: (\d+)$", re.M),
}
_WORD = re.compile(r"[a-z0-9]+")


class DeterministicJudge:
    """A transparent scorer over `render_candidate` text: S = 0.4 E + 0.3 B + 0.2 G + 0.1 P.

    E evidence completeness, B budget adherence, G gate integrity, P provenance clarity (the
    debate weights of the arbiter theory); W waiver justification is reported, not weighted.
    """

    artifact_sha256: str | None = sha256_hex("arbiter.judge.DeterministicJudge/v1")

    def score(self, prompt: str, candidate: str) -> JudgeScore:
        clauses = {
            "EVIDENCE_COMPLETENESS": self._evidence(candidate),
            "BUDGET_ADHERENCE": self._budget(candidate),
            "GATE_INTEGRITY": self._gates(candidate),
            "PROVENANCE_CLARITY": self._provenance(candidate),
            "WAIVER_JUSTIFICATION": self._waiver(candidate),
        }
        s = (0.4 * clauses["EVIDENCE_COMPLETENESS"] + 0.3 * clauses["BUDGET_ADHERENCE"]
             + 0.2 * clauses["GATE_INTEGRITY"] + 0.1 * clauses["PROVENANCE_CLARITY"])
        return JudgeScore(round(s, 4), {k: round(v, 4) for k, v in clauses.items()})

    @staticmethod
    def _evidence(text: str) -> float:
        found = _NUMBERS["evidence"].search(text)
        n = int(found.group(1)) if found else 0
        return 0.05 if n == 0 else min(0.95, 0.3 + 0.2 * n)

    @staticmethod
    def _budget(text: str) -> float:
        within = True
        for key in ("files", "loc"):
            found = _NUMBERS[key].search(text)
            within = within and found is not None and int(found.group(1)) <= int(found.group(2))
        return 0.9 if within else 0.1

    @staticmethod
    def _gates(text: str) -> float:
        line = next((ln for ln in text.splitlines() if ln.startswith("gates: ")), "")
        flags = re.findall(r"=(pass|fail)", line)
        return round(0.05 + 0.9 * flags.count("pass") / len(flags), 4) if flags else 0.05

    @staticmethod
    def _provenance(text: str) -> float:
        lines = dict(ln.split(": ", 1) for ln in text.splitlines() if ": " in ln)
        rationale = set(_WORD.findall(lines.get("rationale", "").lower()))
        if not rationale:
            return 0.05
        paths = {w for w in _WORD.findall(lines.get("paths", "").lower()) if len(w) > 2}
        overlap = len(rationale & paths) / len(paths) if paths else 0.0
        return 0.5 + 0.45 * min(1.0, 2 * overlap)

    @staticmethod
    def _waiver(text: str) -> float:
        rationale = text.rsplit("rationale: ", 1)[-1].lower()
        if "waiver" not in rationale and "exception" not in rationale:
            return 0.1
        justified = any(w in rationale for w in ("because", "due to", "mitigat", "rollback", "expires"))
        return 0.8 if justified else 0.3
