"""Tier thresholds and gate results (CONTRACTS 2.3), and the statuses they lead to (2.5)."""

from __future__ import annotations

import pytest

from arbiter.gates import parse_gate_results
from arbiter.result import Err

from .builders import gates, gates_of, manifest, plea, spec, unwaived, verdict


def run(tier: int = 2, **gate_overrides):
    the_spec = spec(risk_tier=tier) if tier != 3 else spec(risk_tier=3, contracts=[])
    return verdict(the_spec, [plea(gate_results=gates(**gate_overrides))])


def test_coverage_085_fails_on_tier_1_and_passes_on_tier_2():
    tier1, tier2 = run(1, coverage_branch=0.85), run(2, coverage_branch=0.85)
    assert gates_of(tier1) == ["coverage_threshold"]
    assert "branch coverage 0.85 is below the tier 1 minimum 0.90" in tier1["violations"][0]["message"]
    assert tier1["caws_compliance"]["gate_integrity"]["coverage_pass"] is False
    assert gates_of(tier2) == [] and tier2["status"] == "PASS"


@pytest.mark.parametrize(("tier", "minimum"), [(1, 0.90), (2, 0.80), (3, 0.70)])
def test_coverage_boundary_per_tier(tier, minimum):
    assert "coverage_threshold" not in gates_of(run(tier, coverage_branch=minimum))
    assert "coverage_threshold" in gates_of(run(tier, coverage_branch=round(minimum - 0.01, 2)))


@pytest.mark.parametrize(("tier", "minimum"), [(1, 0.70), (2, 0.50), (3, 0.30)])
def test_mutation_boundary_per_tier(tier, minimum):
    assert "mutation_threshold" not in gates_of(run(tier, mutation_score=minimum))
    below = run(tier, mutation_score=round(minimum - 0.01, 2))
    assert gates_of(below) == ["mutation_threshold"]
    assert f"below the tier {tier} minimum {minimum:.2f}" in below["violations"][0]["message"]


@pytest.mark.parametrize("field", ["coverage_branch", "mutation_score"])
def test_a_missing_measurement_is_a_violation(field):
    results = gates()
    del results[field]
    record = verdict(spec(), [plea(gate_results=results)])
    assert record["status"] == "WAIVER_REQUIRED" and "is missing" in record["violations"][0]["message"]


@pytest.mark.parametrize("tier", [1, 2])
def test_tiers_1_and_2_need_consumer_and_provider_contract_tests(tier):
    record = run(tier, contracts={"consumer": True, "provider": False})
    assert gates_of(record) == ["contract_compliance"]
    assert "not passing: provider" in record["violations"][0]["message"]


def test_tier_3_without_contract_tests_can_pass():
    assert run(3, contracts={"consumer": False, "provider": False})["status"] == "PASS"


def test_lint_fails_only_on_an_explicit_false():
    assert gates_of(run(lint_pass=False)) == ["lint"]
    results = gates()
    del results["lint_pass"]
    assert verdict(spec(), [plea(gate_results=results)])["status"] == "PASS"


@pytest.mark.parametrize("value", [False, None])
def test_tests_not_passing_is_fail(value):
    results = gates(tests_pass=value) if value is not None else {k: v for k, v in gates().items() if k != "tests_pass"}
    record = verdict(spec(), [plea(gate_results=results)])
    assert (record["status"], unwaived(record)) == ("FAIL", ["tests"])
    assert record["violations"][0]["waivable"] is False


def test_tier_1_without_manual_review_is_never_pass():
    record = run(1, manual_review=None)
    assert (record["status"], gates_of(record)) == ("FAIL", ["manual_review"])
    blank = run(1, manual_review={"approved_by": "  "})
    assert blank["status"] == "FAIL"
    assert run(1)["status"] == "PASS"


def test_tier_2_does_not_need_manual_review():
    assert run(2, manual_review=None)["status"] == "PASS"


@pytest.mark.parametrize(("overrides", "missing"), [
    ({"rationale": ""}, "rationale"),
    ({"rationale": "   \n"}, "rationale"),
    ({"evidence_manifest": None}, "evidence manifest"),
    ({"evidence_manifest": manifest(items=0)}, "evidence manifest"),
    ({"diff": ""}, "diff"),
])
def test_missing_rationale_evidence_or_diff_is_fail(overrides, missing):
    record = verdict(spec(), [plea(**overrides)])
    assert record["status"] == "FAIL" and "provenance" in unwaived(record)
    provenance = next(v for v in record["violations"] if v["gate"] == "provenance")
    assert missing in provenance["message"]
    assert record["caws_compliance"]["provenance_clarity"]["alignment_score"] == pytest.approx(2 / 3, abs=1e-4)


def test_gate_results_reject_unknown_keys_and_wrong_types_with_paths():
    result = parse_gate_results({"tests_pass": "yes", "max_files": 99})
    assert isinstance(result, Err)
    assert [e.path for e in result.errors] == ["$.max_files", "$.tests_pass"]
