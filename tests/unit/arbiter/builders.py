"""Builders with valid defaults and a fixed NOW: each test overrides one thing and checks one rule."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from arbiter.pleas import Plea
from arbiter.policy import Policy, parse_policy
from arbiter.spec import WorkingSpec, parse_spec
from arbiter.verdict import adjudicate
from arbiter.waivers import Waiver, parse_waiver

ROOT = Path(__file__).resolve().parents[3]
POLICY_FILE = ROOT / "configs" / "caws" / "policy.yaml"
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
NOW_ISO = "2026-11-25T12:00:00Z"


def policy_data(**overrides: Any) -> dict[str, Any]:
    data = yaml.safe_load(POLICY_FILE.read_text())
    data = copy.deepcopy(data)
    data.update(overrides)
    return data


def policy(**overrides: Any) -> Policy:
    return parse_policy(policy_data(**overrides)).unwrap()


def spec_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "id": "FEAT-42",
        "title": "Add rate limiting to the login endpoint",
        "risk_tier": 2,
        "mode": "feature",
        "change_budget": {"max_files": 3, "max_loc": 30},
        "blast_radius": {"modules": ["src/auth"], "data_migration": False},
        "operational_rollback_slo": "15m",
        "scope": {"in": ["src/auth", "tests/auth"], "out": ["src/auth/secrets"]},
        "invariants": ["Successful logins are never delayed by the limiter"],
        "acceptance": [{"id": "A1", "given": "5 failed logins", "when": "a 6th arrives", "then": "HTTP 429"}],
        "non_functional": {"perf": {"api_p95_ms": 150}},
        "contracts": [{"type": "openapi", "path": "contracts/auth.yaml"}],
    }
    data.update(overrides)
    return data


def spec(**overrides: Any) -> WorkingSpec:
    return parse_spec(spec_data(**overrides)).unwrap()


def budget(max_files: int, max_loc: int) -> dict[str, Any]:
    return {"change_budget": {"max_files": max_files, "max_loc": max_loc}}


def added_file(path: str, lines: int) -> str:
    body = "".join(f"+line {i}\n" for i in range(lines))
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{lines} @@\n{body}")


def diff(paths: Iterable[str] = ("src/auth/limiter.py",), lines: int = 5) -> str:
    return "".join(added_file(p, lines) for p in paths)


def manifest(items: int = 2, **overrides: Any) -> dict[str, Any]:
    data = {"manifest_id": "EV-1", "change_id": "FEAT-42-r1", "evidence_items": [
        {"evidence_id": f"E{i + 1}", "type": "test_result", "content": f"Auth test batch {i + 1} passed.",
         "verification_status": "verified"} for i in range(items)]}
    data.update(overrides)
    return data


def gates(**overrides: Any) -> dict[str, Any]:
    data = {"tests_pass": True, "lint_pass": True, "coverage_branch": 0.93, "mutation_score": 0.75,
            "contracts": {"consumer": True, "provider": True}, "manual_review": {"approved_by": "alice"}}
    data.update(overrides)
    return data


def plea(candidate_id: str = "c1", **overrides: Any) -> Plea:
    fields = {"diff": diff(), "rationale": "Adds a rate limiter to src/auth login.", "evidence_manifest": manifest(),
              "gate_results": gates()}
    fields.update(overrides)
    return Plea(candidate_id=candidate_id, **fields)


def waiver_data(**overrides: Any) -> dict[str, Any]:
    data = {"id": "WV-0001", "applies_to": "FEAT-42", "gates": ["budget_limit"],
            "delta": {"max_files": 0, "max_loc": 0}, "reason_code": "architectural_refactor",
            "description": "Limiter needs a shared store.", "mitigation": "Feature flag rolls it back.",
            "expires_at": "2026-12-01T00:00:00Z", "risk_owner": "bob",
            "approvers": [{"handle": "carol", "approved_at": "2026-11-24T10:00:00Z"}], "status": "active"}
    data.update(overrides)
    return data


def two_approvers() -> list[dict[str, str]]:
    return [{"handle": "carol", "approved_at": "2026-11-24T10:00:00Z"},
            {"handle": "dave", "approved_at": "2026-11-24T11:00:00Z"}]


def waiver(**overrides: Any) -> Waiver:
    return parse_waiver(waiver_data(**overrides)).unwrap()


def verdict(the_spec: WorkingSpec | None = None, pleas: Iterable[Plea] | None = None, *,
            waivers: Iterable[Waiver] = (), the_policy: Policy | None = None, now: dt.datetime = NOW,
            judge: Any = None) -> dict[str, Any]:
    return adjudicate(the_spec or spec(), list(pleas) if pleas is not None else [plea()], change_id="FEAT-42-r1",
                      now=now, policy=the_policy or policy(), waivers=list(waivers), judge=judge).unwrap()


def gates_of(record: Mapping[str, Any]) -> list[str]:
    return [v["gate"] for v in record["violations"]]


def unwaived(record: Mapping[str, Any]) -> list[str]:
    return [v["gate"] for v in record["violations"] if v["waived_by"] is None]
