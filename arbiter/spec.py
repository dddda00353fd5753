"""CAWS working spec: parse (YAML or JSON) -> schema -> semantic rules -> `WorkingSpec`.

Rule ids: `working_spec.parse` (malformed text), `working_spec.schema.<keyword>` (shape, including
unknown keys), `working_spec.semantic.contracts_required` (tiers 1 and 2 need a contract),
`working_spec.semantic.mode_tier` (doc and chore only on tier 3),
`working_spec.semantic.duplicate_acceptance_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arbiter.codec import normalize, parse_structured, sha256_hex
from arbiter.result import Diagnostic, Err, Ok, Result
from arbiter.schema import validate

TIER3_ONLY_MODES = frozenset({"doc", "chore"})


@dataclass(frozen=True)
class WorkingSpec:
    """The fields the arbiter decides on, plus the validated document and its hash."""

    id: str
    title: str
    risk_tier: int
    mode: str
    max_files: int
    max_loc: int
    scope_in: tuple[str, ...]
    scope_out: tuple[str, ...]
    contracts: tuple[tuple[str, str], ...]
    document: Mapping[str, Any]
    sha256: str


def parse_spec(source: str | Mapping[str, Any]) -> Result[WorkingSpec]:
    """Accept YAML text, JSON text or an already-parsed mapping."""
    if isinstance(source, str):
        parsed = parse_structured(source, "working_spec")
        if isinstance(parsed, Err):
            return parsed
        data = parsed.value
    else:
        data = normalize(source)
    if not isinstance(data, dict):
        kind = "nothing" if data is None else type(data).__name__
        return Err((Diagnostic("working_spec.schema.type", "$", f"a working spec is a mapping, got {kind}"),))
    errors = validate("working_spec", data) or semantic_errors(data)
    return Err(errors) if errors else Ok(_build(data))


def semantic_errors(data: Mapping[str, Any]) -> tuple[Diagnostic, ...]:
    """Rules a schema cannot express; only run on schema-valid documents."""
    errors: list[Diagnostic] = []
    tier, mode = data["risk_tier"], data["mode"]
    if tier in (1, 2) and not data["contracts"]:
        errors.append(Diagnostic("working_spec.semantic.contracts_required", "$.contracts",
                                 f"tier {tier} needs at least one contract"))
    if mode in TIER3_ONLY_MODES and tier != 3:
        errors.append(Diagnostic("working_spec.semantic.mode_tier", "$.mode",
                                 f"mode {mode!r} is only allowed on tier 3, not tier {tier}"))
    seen: set[str] = set()
    for i, item in enumerate(data["acceptance"]):
        if item["id"] in seen:
            errors.append(Diagnostic("working_spec.semantic.duplicate_acceptance_id", f"$.acceptance[{i}].id",
                                     f"acceptance id {item['id']!r} is used twice"))
        seen.add(item["id"])
    return tuple(errors)


def _build(data: dict[str, Any]) -> WorkingSpec:
    return WorkingSpec(
        id=data["id"],
        title=data["title"],
        risk_tier=data["risk_tier"],
        mode=data["mode"],
        max_files=data["change_budget"]["max_files"],
        max_loc=data["change_budget"]["max_loc"],
        scope_in=tuple(data["scope"]["in"]),
        scope_out=tuple(data["scope"]["out"]),
        contracts=tuple((c["type"], c["path"]) for c in data["contracts"]),
        document=data,
        sha256=sha256_hex(data),
    )
