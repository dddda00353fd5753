"""The decision rule, the record, determinism, candidates and the Judge interface (CONTRACTS 2.5)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest

from arbiter.judge import CLAUSES, DeterministicJudge, Judge, JudgeScore
from arbiter.result import Err
from arbiter.schema import validate
from arbiter.verdict import Violation, adjudicate, decide

from .builders import NOW, budget, diff, gates, plea, policy, spec, verdict, waiver


class FixedJudge:
    """A Judge that scores by candidate text: lets a test decide who wins a tie."""

    artifact_sha256 = "ab" * 32

    def __init__(self, scores: dict[str, float]):
        self.scores = scores

    def score(self, prompt: str, candidate: str) -> JudgeScore:
        value = next((s for marker, s in self.scores.items() if marker in candidate), 0.5)
        return JudgeScore(value, {c: value for c in CLAUSES})


@pytest.mark.parametrize(("violations", "status"), [
    ([], "PASS"),
    ([Violation("lint", "m", True, None)], "WAIVER_REQUIRED"),
    ([Violation("lint", "m", True, "WV-0001")], "PASS"),
    ([Violation("tests", "m", False, None), Violation("lint", "m", True, None)], "FAIL"),
    ([Violation("tests", "m", False, "WV-0001")], "PASS"),
])
def test_decision_rule(violations, status):
    assert decide(violations) == status


def test_a_clean_plea_passes_with_a_full_record():
    record = verdict()
    assert record["status"] == "PASS"
    assert re.fullmatch(r"CAWS-VERDICT-[A-Z0-9]{16}", record["verdict_id"])
    assert record["timestamp"] == "2026-11-25T12:00:00Z"
    assert (record["change_id"], record["spec_id"], record["risk_tier"]) == ("FEAT-42-r1", "FEAT-42", 2)
    assert record["caws_compliance"]["gate_integrity"] == {
        "tests_pass": True, "lint_pass": True, "coverage_pass": True, "all_gates_pass": True}
    assert record["candidates"] == [{"candidate_id": "c1", "status": "PASS",
                                     "judge_score": record["evidence_quality"], "superseded": False}]
    assert [c["caws_clause"] for c in record["clause_mappings"]] == list(CLAUSES)
    assert record["models"]["judge"] == DeterministicJudge.artifact_sha256
    assert record["provenance"] == {"entry_hash": None, "previous_hash": None}
    assert validate("caws_verdict", record) == ()


def test_trust_score_is_100_at_the_targets_and_drops_below_them():
    best = verdict(pleas=[plea(gate_results=gates(coverage_branch=0.95, mutation_score=0.90))])
    assert best["trust_score"] == 100
    # tier 2: coverage 0.80 (minimum) scores 0 of its 25 points, mutation 0.70 scores 0.5 of 25
    lower = verdict(pleas=[plea(gate_results=gates(coverage_branch=0.80, mutation_score=0.70))])
    assert lower["trust_score"] == 63


def test_any_applied_waiver_caps_trust_at_79():
    perfect = gates(coverage_branch=0.95, mutation_score=0.90)
    record = verdict(pleas=[plea(gate_results=perfect, diff=diff(["src/auth/x_copy.py"]))],
                     waivers=[waiver(gates=["naming"])])
    assert (record["status"], record["trust_score"]) == ("PASS", 79)


def test_reasoning_names_every_violation_and_waiver():
    bad = plea(rationale="", diff=diff(["src/auth2/new-x.py", "src/auth/a.py", "src/auth/b.py", "src/auth/c.py"]),
               gate_results=gates(lint_pass=False, tests_pass=False, coverage_branch=0.1))
    record = verdict(pleas=[bad], waivers=[waiver(status="revoked")])
    gates_named = [v["gate"] for v in record["violations"]]
    assert gates_named == ["budget_limit", "scope_boundary", "naming", "coverage_threshold", "lint", "tests",
                           "provenance"]
    for gate in gates_named:
        assert f"Violation {gate} (" in record["arbiter_reasoning"]
    assert "Waiver WV-0001: not applied: status is revoked, not active." in record["arbiter_reasoning"]
    assert record["status"] == "FAIL"


def test_same_inputs_give_the_same_record():
    assert verdict() == verdict()


@pytest.mark.parametrize("change", [
    dict(now=NOW + dt.timedelta(seconds=1)),
    dict(pleas=[plea(rationale="Another rationale for src/auth.")]),
    dict(waivers=[waiver(gates=["lint"])]),
])
def test_any_input_change_gives_another_verdict_id(change):
    assert verdict(**change)["verdict_id"] != verdict()["verdict_id"]


def test_now_must_be_timezone_aware():
    with pytest.raises(ValueError):
        verdict(now=dt.datetime(2026, 11, 25, 12))


def test_over_budget_and_within_budget_candidates_the_within_one_wins():
    over = plea("over", diff=diff(["src/auth/a.py", "src/auth/b.py", "src/auth/c.py", "src/auth/d.py"]))
    within = plea("within", diff=diff(["src/auth/a.py"]))
    record = verdict(spec(**budget(3, 100)), [over, within])
    assert (record["status"], record["winner_candidate_id"]) == ("PASS", "within")
    assert [(c["candidate_id"], c["status"], c["superseded"]) for c in record["candidates"]] == [
        ("over", "WAIVER_REQUIRED", True), ("within", "PASS", False)]
    assert "Selected over over WAIVER_REQUIRED" in record["arbiter_reasoning"]
    assert validate("caws_verdict", record) == ()


def test_judge_score_breaks_a_tie_between_equal_statuses():
    a = plea("a", rationale="alpha change to src/auth")
    b = plea("b", rationale="beta change to src/auth")
    record = verdict(pleas=[a, b], judge=FixedJudge({"alpha": 0.4, "beta": 0.9}))
    assert record["winner_candidate_id"] == "b" and record["evidence_quality"] == 0.9
    assert record["models"]["judge"] == "ab" * 32
    assert verdict(pleas=[a, b], judge=FixedJudge({"alpha": 0.5, "beta": 0.5}))["winner_candidate_id"] == "a"


def test_judge_score_never_beats_a_better_status():
    passing = plea("passing", rationale="alpha")
    failing = plea("failing", rationale="beta", gate_results=gates(tests_pass=False))
    record = verdict(pleas=[failing, passing], judge=FixedJudge({"alpha": 0.01, "beta": 0.99}))
    assert record["winner_candidate_id"] == "passing"


def test_in_record_mode_a_low_judge_score_is_only_recorded():
    record = verdict(judge=FixedJudge({"rate limiter": 0.1}))
    assert (record["status"], record["evidence_quality"]) == ("PASS", 0.1)


def test_in_enforce_mode_a_low_judge_score_requires_a_waiver():
    enforce = policy(judge_mode="enforce")
    record = verdict(the_policy=enforce, judge=FixedJudge({"rate limiter": 0.1}))
    assert (record["status"], [v["gate"] for v in record["violations"]]) == ("WAIVER_REQUIRED", ["judge_review"])
    assert verdict(the_policy=enforce, judge=FixedJudge({"rate limiter": 0.8}))["status"] == "PASS"


def test_the_deterministic_judge_satisfies_the_protocol_and_prefers_complete_evidence():
    judge = DeterministicJudge()
    assert isinstance(judge, Judge)
    rich = verdict(pleas=[plea(evidence_manifest=None)], judge=judge)
    full = verdict(judge=judge)
    assert full["evidence_quality"] > rich["evidence_quality"]
    budget_clause = {c["caws_clause"]: c["relevance_score"] for c in full["clause_mappings"]}["BUDGET_ADHERENCE"]
    assert budget_clause == 0.9


@pytest.mark.parametrize("count", [0, 9])
def test_candidate_count_must_be_1_to_8(count):
    result = adjudicate(spec(), [plea(f"c{i}") for i in range(count)], change_id="x", now=NOW, policy=policy())
    assert isinstance(result, Err) and result.errors[0].rule == "plea.count"


def test_duplicate_candidate_ids_are_rejected():
    result = adjudicate(spec(), [plea("a"), plea("a")], change_id="x", now=NOW, policy=policy())
    assert isinstance(result, Err) and result.errors[0].rule == "plea.candidate_id"


def test_invalid_pleas_are_errors_with_paths_not_verdicts():
    bad = [plea("a"), plea("b", diff="not a diff", gate_results={"tests_pass": "yes"},
                            evidence_manifest={"manifest_id": "m"})]
    result = adjudicate(spec(), bad, change_id="x", now=NOW, policy=policy())
    assert isinstance(result, Err)
    assert [e.path for e in result.errors] == [
        "$.candidates[1].diff: line 1", "$.candidates[1].gate_results.tests_pass",
        "$.candidates[1].evidence_manifest.change_id", "$.candidates[1].evidence_manifest.evidence_items"]


def test_every_verdict_of_a_varied_grid_validates_against_the_schema():
    grid = [dataclasses.replace(plea(), gate_results=gates(**g)) for g in (
        {}, {"tests_pass": False}, {"coverage_branch": None}, {"contracts": {}}, {"manual_review": None})]
    for tier in (1, 2, 3):
        for one in grid:
            record = verdict(spec(risk_tier=tier), [one], waivers=[waiver(gates=["coverage_threshold"])])
            assert validate("caws_verdict", record) == ()


def test_request_bodies_give_one_top_level_plea_or_candidates_never_both():
    from arbiter.pleas import pleas_from_request

    single = pleas_from_request({"change_id": "FEAT-42-r1", "diff": diff(), "rationale": "r"}).unwrap()
    assert [(p.candidate_id, p.rationale) for p in single] == [("FEAT-42-r1", "r")]
    many = pleas_from_request({"candidates": [{"candidate_id": "a", "diff": diff()}, {"candidate_id": "b"}]})
    assert [p.candidate_id for p in many.unwrap()] == ["a", "b"]
    both = pleas_from_request({"diff": diff(), "candidates": []})
    assert isinstance(both, Err) and both.errors[0].rule == "plea.shape"
    unnamed = pleas_from_request({"candidates": [{"diff": diff()}]})
    assert isinstance(unnamed, Err) and unnamed.errors[0].path == "$.candidates[0].candidate_id"


def test_a_top_level_plea_reports_paths_from_the_root():
    result = adjudicate(spec(), [plea(diff="prose")], change_id="x", now=NOW, policy=policy(), path="$")
    assert isinstance(result, Err) and result.errors[0].path == "$.diff: line 1"


def test_a_judge_score_serializes_to_the_judge_score_response_shape():
    scored = DeterministicJudge().score("prompt", "files: 1 of 3\nloc: 5 of 30\nevidence items: 2\n")
    shape = scored.to_dict()
    assert set(shape) == {"score", "clauses"} and list(shape["clauses"]) == list(CLAUSES)
    assert shape["clauses"]["BUDGET_ADHERENCE"] == 0.9 and shape["clauses"]["EVIDENCE_COMPLETENESS"] == 0.7
