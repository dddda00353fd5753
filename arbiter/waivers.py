"""Waivers and their applicability (CONTRACTS 2.4).

A waiver applies to a gate of a plea when: its status is `active`; it holds at least
`min_approvers` approvals (`min_approvers_for_budget_raise` when its delta is non-zero), counting
distinct handles other than its creator; `expires_at` is strictly after `now`; `applies_to` equals
the spec id; the gate is in `gates`; and the policy lets that gate be waived. Deltas are additive
and never negative. The effective budget is the spec budget plus the deltas of the waivers that
apply to `budget_limit`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arbiter.codec import format_time, normalize, parse_time
from arbiter.policy import Policy
from arbiter.result import Diagnostic, Err, Ok, Result
from arbiter.schema import validate


@dataclass(frozen=True)
class Waiver:
    id: str
    applies_to: str
    gates: tuple[str, ...]
    delta_files: int
    delta_loc: int
    expires_at: dt.datetime
    status: str
    approvers: tuple[str, ...]
    created_by: str | None = None

    @property
    def raises_budget(self) -> bool:
        return self.delta_files != 0 or self.delta_loc != 0

    def approvals(self) -> int:
        """Distinct approvers; the creator's own approval never counts."""
        return len({h for h in self.approvers if h != self.created_by})


@dataclass(frozen=True)
class Eligibility:
    """Whether a waiver may apply to this spec at `now` (any gate), and why not."""

    waiver: Waiver
    eligible: bool
    reason: str


def parse_waiver(data: Mapping[str, Any], path: str = "$") -> Result[Waiver]:
    data = normalize(data)
    errors = validate("waiver", data)
    if errors:
        return Err(tuple(Diagnostic(e.rule, path + e.path[1:], e.message) for e in errors))
    expires = parse_time(data["expires_at"], f"{path}.expires_at")
    if isinstance(expires, Err):
        return expires
    return Ok(Waiver(
        id=data["id"], applies_to=data["applies_to"], gates=tuple(data["gates"]),
        delta_files=data["delta"]["max_files"], delta_loc=data["delta"]["max_loc"],
        expires_at=expires.value, status=data["status"],
        approvers=tuple(a["handle"] for a in data["approvers"]), created_by=data.get("created_by"),
    ))


def parse_waivers(data: Any) -> Result[tuple[Waiver, ...]]:
    """A list of waivers; ids must be unique."""
    if data is None:
        return Ok(())
    if not isinstance(data, list):
        return Err((Diagnostic("waiver.schema.type", "$", "waivers are a list"),))
    waivers, errors, seen = [], [], set()
    for i, item in enumerate(data):
        if not isinstance(item, Mapping):
            errors.append(Diagnostic("waiver.schema.type", f"$[{i}]", "a waiver is a mapping"))
            continue
        parsed = parse_waiver(item, f"$[{i}]")
        if isinstance(parsed, Err):
            errors.extend(parsed.errors)
        elif parsed.value.id in seen:
            errors.append(Diagnostic("waiver.duplicate_id", f"$[{i}].id",
                                     f"waiver {parsed.value.id} given twice"))
        else:
            seen.add(parsed.value.id)
            waivers.append(parsed.value)
    return Err(tuple(errors)) if errors else Ok(tuple(waivers))


def eligibility(waiver: Waiver, spec_id: str, now: dt.datetime, policy: Policy) -> Eligibility:
    """Every condition except gate membership, in a fixed order; the first failure is the reason."""
    needed = policy.min_approvers_for_budget_raise if waiver.raises_budget else policy.min_approvers
    if waiver.status != "active":
        return Eligibility(waiver, False, f"status is {waiver.status}, not active")
    if waiver.delta_files < 0 or waiver.delta_loc < 0:
        return Eligibility(waiver, False, "delta is negative; deltas may only raise the budget")
    if waiver.approvals() < needed:
        kind = "a budget raise" if waiver.raises_budget else "a waiver"
        return Eligibility(waiver, False, f"{waiver.approvals()} approval(s); {kind} needs {needed}")
    if waiver.expires_at <= now:
        when = f"expires_at {format_time(waiver.expires_at)} is not after now {format_time(now)}"
        return Eligibility(waiver, False, f"expired: {when}")
    if waiver.applies_to != spec_id:
        return Eligibility(waiver, False, f"applies to {waiver.applies_to}, not {spec_id}")
    return Eligibility(waiver, True, "eligible")


def assess(waivers: Iterable[Waiver], spec_id: str, now: dt.datetime,
           policy: Policy) -> tuple[Eligibility, ...]:
    """Eligibility of every waiver, ordered by id so every later choice is deterministic."""
    return tuple(eligibility(w, spec_id, now, policy) for w in sorted(waivers, key=lambda w: w.id))


def applicable(assessed: Sequence[Eligibility], gate: str, policy: Policy) -> tuple[Waiver, ...]:
    """Waivers that apply to `gate`: eligible, naming the gate, and the gate is waivable."""
    if not policy.is_waivable(gate):
        return ()
    return tuple(e.waiver for e in assessed if e.eligible and gate in e.waiver.gates)


def effective_budget(max_files: int, max_loc: int, assessed: Sequence[Eligibility],
                     policy: Policy) -> tuple[int, int, tuple[str, ...]]:
    """Spec budget plus the deltas of waivers applying to `budget_limit`, and which ones raised it."""
    raising = [w for w in applicable(assessed, "budget_limit", policy) if w.raises_budget]
    files = max_files + sum(w.delta_files for w in raising)
    loc = max_loc + sum(w.delta_loc for w in raising)
    return files, loc, tuple(w.id for w in raising)
