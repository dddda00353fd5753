"""Seeded CAWS adjudication scenarios: working specs, waivers and candidate pleas, as arbiter inputs.

A scenario is one working spec (tier, mode, budget, scope, contracts), the waivers on record for it
(valid or not: expired, short of approvals, revoked), whether a reviewer signed off, and the time
`now`. A candidate is described by a `PleaPlan` (which files it touches and how much, which gates it
fails, how much evidence it offers, how it argues) and rendered into the arbiter's own input types:
a unified diff, gate results, an evidence manifest and a rationale. Nothing here decides quality;
`training.judge.labels` reads the arbiter's examination of the rendered plea.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field, replace
from typing import Any

AREAS: dict[str, tuple[str, ...]] = {
    "auth": ("login", "session", "limiter", "tokens", "password"),
    "billing": ("invoice", "ledger", "tax", "refund"),
    "search": ("index", "query", "ranking", "tokenize"),
    "notifications": ("email", "push", "digest", "templates"),
    "reports": ("export", "charts", "schedule"),
    "storage": ("blob", "quota", "retention"),
    "api": ("routes", "errors", "pagination"),
    "cache": ("lru", "ttl", "warmup"),
}
TITLES = {
    "feature": "Add {thing} support to the {area} service",
    "fix": "Fix {thing} handling in {area}",
    "refactor": "Refactor the {area} {thing} module",
    "doc": "Document the {area} {thing} behaviour",
    "chore": "Update {area} {thing} tooling",
}
PREFIX = {"feature": "FEAT", "fix": "FIX", "refactor": "REF", "doc": "DOC", "chore": "CHORE"}
LOC_BUDGETS = (40, 60, 80, 100, 150, 200, 300, 400)
TIER_MINIMUMS = {1: (0.90, 0.70), 2: (0.80, 0.50), 3: (0.70, 0.30)}  # coverage, mutation (policy.yaml)
# Gates a plea can fail through its gate results (the others follow from diff, evidence and rationale).
RESULT_GATES = ("tests", "lint", "coverage_threshold", "mutation_threshold", "contract_compliance")
REVIEWERS = ("alice", "bob", "carol", "dave", "erin")


@dataclass(frozen=True)
class Scenario:
    """One change request: the spec document, waivers on record and the adjudication time."""

    id: str
    spec: dict[str, Any]
    area: str
    waivers: tuple[dict[str, Any], ...]
    reviewed_by: str | None
    now: dt.datetime

    @property
    def tier(self) -> int:
        return int(self.spec["risk_tier"])

    @property
    def budget(self) -> tuple[int, int]:
        return self.spec["change_budget"]["max_files"], self.spec["change_budget"]["max_loc"]

    @property
    def waiver_ids(self) -> tuple[str, ...]:
        return tuple(w["id"] for w in self.waivers)


@dataclass(frozen=True)
class PleaPlan:
    """What one candidate does; `render` turns it into arbiter inputs.

    `files` are (path, added, removed); `failing` names gates from RESULT_GATES the results fail;
    `rationale` is (kind, variant) with kind specific | vague | located | purposed | empty, and
    `waiver_note` is justified | bare | none (how the rationale argues for a waiver)."""

    files: tuple[tuple[str, int, int], ...]
    failing: frozenset[str] = frozenset()
    evidence: int = 2
    rationale: tuple[str, int] = ("specific", 0)
    waiver_note: str = "none"
    deleted_shadow: bool = False  # deleting a shadow copy is the fix, not a naming violation
    extras: dict[str, Any] = field(default_factory=dict)

    def with_files(self, files: list[tuple[str, int, int]]) -> PleaPlan:
        return replace(self, files=tuple(files))


def make_scenario(rng: random.Random, index: int, now: dt.datetime) -> Scenario:
    tier = rng.choice((1, 2, 2, 3, 3))
    mode = rng.choice(("feature", "fix", "refactor") + (("doc", "chore") if tier == 3 else ()))
    area = rng.choice(sorted(AREAS))
    thing = rng.choice(AREAS[area])
    spec_id = f"{PREFIX[mode]}-{100 + index}"
    out = [f"src/{area}/secrets"] if rng.random() < 0.6 else [f"src/{area}/legacy", "migrations"]
    spec = {
        "id": spec_id,
        "title": TITLES[mode].format(thing=thing, area=area),
        "risk_tier": tier,
        "mode": mode,
        "change_budget": {"max_files": rng.randint(3, 9), "max_loc": rng.choice(LOC_BUDGETS)},
        "blast_radius": {"modules": [f"src/{area}"], "data_migration": False},
        "operational_rollback_slo": rng.choice(("15m", "30m", "1h", "4h")),
        "scope": {"in": [f"src/{area}", f"tests/{area}"], "out": out},
        "invariants": [f"Existing {area} behaviour outside {thing} is unchanged"],
        "acceptance": [{"id": "A1", "given": f"a valid {thing} request", "when": "it is processed",
                        "then": f"the {thing} result is recorded"}],
        "non_functional": {"perf": {"api_p95_ms": rng.choice((100, 150, 250))}},
        "contracts": [{"type": "openapi", "path": f"contracts/{area}.yaml"}] if tier < 3 else [],
    }
    waivers = tuple(_waiver(rng, spec_id, n, now) for n in range(rng.choice((0, 0, 1, 1, 2))))
    reviewed = rng.choice(REVIEWERS) if tier > 1 or rng.random() < 0.85 else None
    return Scenario(f"S{index:05d}", spec, area, waivers, reviewed, now)


def _waiver(rng: random.Random, spec_id: str, n: int, now: dt.datetime) -> dict[str, Any]:
    """A waiver on record; about a third of them do not apply (expired, too few approvals, revoked)."""
    gates = rng.choice((["budget_limit"], ["lint"], ["coverage_threshold", "mutation_threshold"],
                        ["scope_boundary"], ["budget_limit", "naming"]))
    raise_budget = "budget_limit" in gates
    creator, *others = rng.sample(REVIEWERS, 4)
    defect = rng.choice((None, None, "expired", "approvals", "revoked"))
    approvers = others[: (1 if defect == "approvals" else 2)]
    expires = now + dt.timedelta(days=rng.randint(2, 30)) * (-1 if defect == "expired" else 1)
    return {
        "id": f"WV-{(n + 1) * 1000 + rng.randint(0, 999):04d}",  # distinct within the scenario
        "applies_to": spec_id,
        "gates": gates,
        "delta": {"max_files": rng.randint(2, 6), "max_loc": rng.choice((100, 200, 400))} if raise_budget
        else {"max_files": 0, "max_loc": 0},
        "reason_code": rng.choice(("legacy_integration", "architectural_refactor", "third_party_constraint")),
        "description": "Temporary exception recorded for this change.",
        "mitigation": "Feature flag rolls the change back.",
        "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "risk_owner": creator,
        "created_by": creator,
        "approvers": [{"handle": h, "approved_at": (now - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
                      for h in approvers],
        "status": "revoked" if defect == "revoked" else "active",
    }


# ---------------------------------------------------------------- candidate files and budgets


def in_scope_files(rng: random.Random, sc: Scenario, n_files: int, loc: int) -> list[tuple[str, int, int]]:
    """`n_files` paths under scope.in (code first, then tests) sharing `loc` changed lines."""
    names = list(AREAS[sc.area])
    rng.shuffle(names)
    paths = []
    for i in range(n_files):
        stem = names[i % len(names)] + (f"_{i // len(names)}" if i >= len(names) else "")
        paths.append(f"tests/{sc.area}/test_{stem}.py" if i % 2 else f"src/{sc.area}/{stem}.py")
    return [(p, a, r) for p, (a, r) in zip(paths, _split_loc(rng, loc, n_files), strict=True)]


def _split_loc(rng: random.Random, loc: int, n: int) -> list[tuple[int, int]]:
    cuts = sorted(rng.sample(range(1, loc), n - 1)) if n > 1 and loc > n else []
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, loc], strict=True)] if cuts else [max(1, loc // n)] * n
    out = []
    for size in sizes:
        removed = rng.randint(0, size // 3)
        out.append((max(1, size - removed), removed))
    return out


def within_budget(rng: random.Random, sc: Scenario) -> list[tuple[str, int, int]]:
    max_files, max_loc = sc.budget
    n = rng.randint(1, max_files)
    return in_scope_files(rng, sc, n, rng.randint(max(n, max_loc // 4), max_loc))


def over_budget(rng: random.Random, sc: Scenario) -> list[tuple[str, int, int]]:
    """Over on files, on LOC, or on both; never exactly at the limit."""
    max_files, max_loc = sc.budget
    kind = rng.choice(("files", "loc", "both"))
    n = rng.randint(max_files + 1, max_files + 4) if kind != "loc" else rng.randint(1, max_files)
    loc = rng.randint(max_loc + 1, max_loc * 3) if kind != "files" else rng.randint(n, max_loc)
    if kind == "files" and loc < n:
        loc = n
    files = in_scope_files(rng, sc, n, max(loc, n))
    total = sum(a + r for _, a, r in files)
    if kind != "files" and total <= max_loc:  # rounding in _split_loc: push the first file over
        path, a, r = files[0]
        files[0] = (path, a + max_loc + 1 - total, r)
    return files


def out_of_scope_path(rng: random.Random, sc: Scenario) -> str:
    other = rng.choice(sorted(a for a in AREAS if a != sc.area))
    return rng.choice((f"{sc.spec['scope']['out'][0]}/{rng.choice(('keys', 'vault', 'old'))}.py",
                       f"src/{other}/{rng.choice(AREAS[other])}.py"))


def shadow_path(rng: random.Random, path: str) -> str:
    head, name = path.rsplit("/", 1)
    stem, ext = name.rsplit(".", 1)
    return f"{head}/" + rng.choice((f"{stem}-copy.{ext}", f"{stem}_final.{ext}", f"new-{stem}.{ext}",
                                    f"{stem}_v2.{ext}", f"enhanced-{stem}.{ext}"))


# ---------------------------------------------------------------- rendering into arbiter inputs


def render_diff(files: tuple[tuple[str, int, int], ...]) -> str:
    """A git unified diff: one hunk per file (a new file when nothing is removed)."""
    out = []
    for path, added, removed in files:
        out.append(f"diff --git a/{path} b/{path}")
        if removed == 0:
            out += ["new file mode 100644", "--- /dev/null", f"+++ b/{path}", f"@@ -0,0 +1,{added} @@"]
        else:
            out += [f"--- a/{path}", f"+++ b/{path}", f"@@ -1,{removed} +1,{added} @@"]
        out += [f"-old line {i}" for i in range(removed)] + [f"+new line {i}" for i in range(added)]
    return "\n".join(out) + "\n"


def render_gate_results(rng: random.Random, sc: Scenario, failing: frozenset[str]) -> dict[str, Any]:
    cov_min, mut_min = TIER_MINIMUMS[sc.tier]
    results: dict[str, Any] = {
        "tests_pass": "tests" not in failing,
        "lint_pass": "lint" not in failing,
        "coverage_branch": round(rng.uniform(cov_min - 0.25, cov_min - 0.01), 2) if "coverage_threshold" in failing
        else round(rng.uniform(cov_min, 0.99), 2),
        "mutation_score": round(rng.uniform(max(0.0, mut_min - 0.25), mut_min - 0.01), 2)
        if "mutation_threshold" in failing else round(rng.uniform(mut_min, 0.95), 2),
        "contracts": {"consumer": True, "provider": "contract_compliance" not in failing},
    }
    if sc.reviewed_by:
        results["manual_review"] = {"approved_by": sc.reviewed_by}
    return results


EVIDENCE_KINDS = (
    ("test_result", "All {n} {area} tests passed, including the new {thing} cases."),
    ("coverage_report", "Branch coverage of src/{area} is {cov}."),
    ("lint_report", "ruff reports no findings in src/{area}."),
    ("benchmark_result", "p95 latency of the {thing} path is {ms} ms."),
    ("manual_review", "Reviewed the {thing} change with the {area} owners."),
    ("documentation", "The {area} README describes the new {thing} behaviour."),
)


def render_evidence(rng: random.Random, sc: Scenario, change_id: str, n: int) -> dict[str, Any]:
    kinds = list(EVIDENCE_KINDS)
    rng.shuffle(kinds)
    thing = rng.choice(AREAS[sc.area])
    items = [{"evidence_id": f"E{i + 1}", "type": kind,
              "content": text.format(n=rng.randint(8, 80), area=sc.area, thing=thing,
                                     cov=round(rng.uniform(0.7, 0.99), 2), ms=rng.randint(20, 240)),
              "verification_status": "verified"} for i, (kind, text) in enumerate(kinds[:n])]
    return {"manifest_id": f"EV-{change_id}", "change_id": change_id, "evidence_items": items}


# ---------------------------------------------------------------- rationales

SPECIFIC = (
    "Adds {thing} handling to {path} so that {area} requests keep their limits; tests cover the new cases.",
    "Changes {path} to fix the {thing} bug reported against {area}, and adds a regression test.",
    "Moves the {thing} logic into {path} to prevent duplicate {area} writes under retries.",
    "Updates {path} so that the {thing} step validates input before the {area} store is touched.",
    "Rewrites {thing} parsing in {path} in order to support the new {area} payload format.",
)
LOCATED = (  # names the code, gives no reason
    "Changes in {path} and its tests.",
    "Touches {path}.",
    "Edited {path} and a few helpers around {thing} in {area}.",
)
PURPOSED = (  # gives a reason, names no code
    "Reworked the code so that it behaves better.",
    "Small change to fix the problem we saw last week.",
    "Needed to prevent issues later on, nothing special here.",
)
VAGUE = ("Misc fixes.", "Cleanup.", "Updated some files.", "wip", "Various improvements and tweaks to the code.",
         "See the diff.")
JUSTIFIED = (
    "Relies on waiver {wid} because the {thing} store is shared with legacy callers; mitigation: feature flag "
    "{area}.{thing} rolls it back.",
    "Waiver {wid} applies due to a third-party constraint on {area}; mitigation: revert plan tested, rollback in 15m.",
    "Needs waiver {wid} since the {thing} refactor spans modules; mitigation: a feature flag keeps the old path.",
)
BARE = (
    "Covered by waiver {wid}.",
    "Waiver {wid} applies.",
    "Waiver {wid} applies because we ran out of time.",
    "See waiver {wid}; rollback is possible.",
)


def render_rationale(rng: random.Random, sc: Scenario, plan: PleaPlan) -> str:
    kind, variant = plan.rationale
    path = plan.files[0][0] if plan.files else f"src/{sc.area}"
    fill = {"path": path, "thing": rng.choice(AREAS[sc.area]), "area": sc.area}
    table = {"specific": SPECIFIC, "located": LOCATED, "purposed": PURPOSED, "vague": VAGUE}
    text = table[kind][variant % len(table[kind])].format(**fill) if kind != "empty" else ""
    if plan.waiver_note != "none":
        wid = sc.waiver_ids[0] if sc.waiver_ids else f"WV-{rng.randint(1000, 9999)}"
        note = (JUSTIFIED if plan.waiver_note == "justified" else BARE)
        text = (text + " " + rng.choice(note).format(wid=wid, **fill)).strip()
    return text


RATIONALE_KINDS = {"specific": len(SPECIFIC), "located": len(LOCATED), "purposed": len(PURPOSED),
                   "vague": len(VAGUE), "empty": 1}
