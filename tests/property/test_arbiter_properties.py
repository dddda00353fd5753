"""Adjudication never raises on well-formed input and is deterministic (hypothesis-generated)."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbiter.diffs import parse_diff
from arbiter.loaders import read_policy
from arbiter.pleas import Plea
from arbiter.result import Ok
from arbiter.schema import validate
from arbiter.spec import parse_spec
from arbiter.verdict import adjudicate
from arbiter.waivers import parse_waiver

POLICY = read_policy().unwrap()
NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
DIRS = ["src/auth", "src/auth2", "src/billing", "tests/auth", "docs", "src/auth/secrets"]
NAMES = ["a.py", "login-copy.py", "new-x.ts", "util_final.go", "README.md", "v2.py", "img.png"]

paths = st.builds(lambda d, n: f"{d}/{n}", st.sampled_from(DIRS), st.sampled_from(NAMES))


@st.composite
def specs(draw):
    tier = draw(st.sampled_from([1, 2, 3]))
    modes = ["feature", "refactor", "fix"] + (["doc", "chore"] if tier == 3 else [])
    contracts = [{"type": "openapi", "path": "c.yaml"}] if tier < 3 or draw(st.booleans()) else []
    return parse_spec({
        "id": f"FEAT-{draw(st.integers(1, 9999))}", "title": "Generated working spec", "risk_tier": tier,
        "mode": draw(st.sampled_from(modes)),
        "change_budget": {"max_files": draw(st.integers(1, 6)), "max_loc": draw(st.integers(1, 60))},
        "blast_radius": {"modules": [], "data_migration": draw(st.booleans())},
        "operational_rollback_slo": "30m",
        "scope": {"in": draw(st.lists(st.sampled_from(DIRS), min_size=1, max_size=3)),
                  "out": draw(st.lists(st.sampled_from(DIRS), max_size=2))},
        "invariants": ["holds"], "acceptance": [{"id": "A1", "given": "g", "when": "w", "then": "t"}],
        "non_functional": {}, "contracts": contracts}).unwrap()


@st.composite
def file_diffs(draw):
    path, kind = draw(paths), draw(st.sampled_from(["add", "delete", "modify", "rename", "binary"]))
    adds, dels = draw(st.integers(0, 8)), draw(st.integers(0, 8))
    if kind == "binary":
        return f"diff --git a/{path} b/{path}\nindex 1..2 100644\nBinary files a/{path} and b/{path} differ\n"
    if kind == "add":
        body = "+x\n" * max(adds, 1)
        return f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{max(adds, 1)} @@\n{body}"
    if kind == "delete":
        body = "-x\n" * max(dels, 1)
        return f"--- a/{path}\n+++ /dev/null\n@@ -1,{max(dels, 1)} +0,0 @@\n{body}"
    new = path + ".moved" if kind == "rename" else path
    header = f"diff --git a/{path} b/{new}\n" + (f"rename from {path}\nrename to {new}\n" if kind == "rename" else "")
    body = " c\n" + "-x\n" * dels + "+y\n" * adds + ("\\ No newline at end of file\n" if adds else "")
    return header + f"--- a/{path}\n+++ b/{new}\n@@ -1,{dels + 1} +1,{adds + 1} @@\n{body}"


diffs = st.lists(file_diffs(), max_size=6).map("".join).map(
    lambda d: d.replace("\n", "\r\n") if len(d) % 3 == 0 else d)

gate_results = st.fixed_dictionaries({}, optional={
    "tests_pass": st.booleans(), "lint_pass": st.booleans(),
    "coverage_branch": st.one_of(st.none(), st.floats(0, 1)), "mutation_score": st.one_of(st.none(), st.floats(0, 1)),
    "contracts": st.fixed_dictionaries({}, optional={"consumer": st.booleans(), "provider": st.booleans()}),
    "manual_review": st.one_of(st.none(), st.fixed_dictionaries({"approved_by": st.sampled_from(["", "alice"])})),
})

manifests = st.one_of(st.none(), st.builds(lambda n: {"manifest_id": "m", "change_id": "c", "evidence_items": [
    {"evidence_id": f"e{i}", "type": "test_result", "content": "ok", "verification_status": "verified"}
    for i in range(n)]}, st.integers(0, 3)))


@st.composite
def waivers(draw, spec_id: str):
    gates = draw(st.lists(st.sampled_from(sorted(POLICY.waivable | {"tests"})), min_size=1, max_size=3, unique=True))
    return parse_waiver({
        "id": f"WV-{draw(st.integers(0, 9999)):04d}", "applies_to": draw(st.sampled_from([spec_id, "OTHER-1"])),
        "gates": gates, "delta": {"max_files": draw(st.integers(0, 3)), "max_loc": draw(st.integers(0, 50))},
        "reason_code": "other", "description": "d", "mitigation": "m",
        "expires_at": (NOW + dt.timedelta(hours=draw(st.integers(-2, 2)))).isoformat(), "risk_owner": "o",
        "approvers": [{"handle": h, "approved_at": "2026-11-24T00:00:00Z"}
                      for h in draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3))],
        "status": draw(st.sampled_from(["proposed", "active", "revoked"]))}).unwrap()


@st.composite
def cases(draw):
    spec = draw(specs())
    pleas = [Plea(f"c{i}", draw(diffs), draw(st.sampled_from(["", "Rationale."])), draw(manifests),
                  draw(gate_results)) for i in range(draw(st.integers(1, 3)))]
    found = draw(st.lists(waivers(spec.id), max_size=3, unique_by=lambda w: w.id))
    return spec, pleas, found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_adjudication_never_raises_validates_and_is_deterministic(case):
    spec, pleas, found = case
    first = adjudicate(spec, pleas, change_id="X-1", now=NOW, policy=POLICY, waivers=found)
    second = adjudicate(spec, list(reversed(list(reversed(pleas)))), change_id="X-1", now=NOW, policy=POLICY,
                        waivers=list(reversed(found)))
    assert isinstance(first, Ok)
    assert first.value == second.value
    assert validate("caws_verdict", first.value) == ()
    record = first.value
    if any(v["waived_by"] for v in record["violations"]):
        assert record["trust_score"] <= 79


@settings(max_examples=200, deadline=None)
@given(st.lists(file_diffs(), max_size=6))
def test_diff_loc_equals_the_generated_plus_and_minus_lines(parts):
    text = "".join(parts)
    stats = parse_diff(text).unwrap()
    body = [ln for ln in text.split("\n") if ln[:1] in ("+", "-") and not ln.startswith(("---", "+++"))]
    assert stats.loc == len(body)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_the_diff_parser_never_raises_on_arbitrary_text(text):
    parse_diff(text)


WORDS = ["It", "it", "then", "The", "parser", "and", "or", "returns", "429", "p95", "is", "120", "ms", "best",
         "This", "change", "great", "fixed", "Argentina's", "fell", ".", ",", "?", "(TTFT)", "according", "to"]


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join)),
       st.booleans())
def test_claimify_never_raises_and_always_returns_a_valid_response(text, with_evidence):
    from arbiter.claims import claimify

    manifest = {"manifest_id": "m", "change_id": "c", "evidence_items": [
        {"evidence_id": "e", "type": "benchmark_result", "content": text[:80], "verification_status": "verified"}],
        "artifacts": [{"type": "bench_json", "path": "b.json", "json_path": "perf.p95_ms", "value": 120}]}
    first = claimify(text, policy=POLICY.claims, evidence_manifest=manifest if with_evidence else None).unwrap()
    assert validate("claimify_response", first) == ()
    assert claimify(text, policy=POLICY.claims, evidence_manifest=manifest if with_evidence else None).unwrap() == first
