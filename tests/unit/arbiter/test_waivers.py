"""Waiver applicability exactly as CONTRACTS 2.4, and its effect on the verdict."""

from __future__ import annotations

import datetime as dt

import pytest

from arbiter.result import Err
from arbiter.waivers import eligibility, parse_waiver, parse_waivers

from .builders import NOW, budget, diff, plea, policy, spec, two_approvers, unwaived, verdict, waiver, waiver_data

OVER_BY_ONE_FILE = dict(diff=diff(["src/auth/a.py", "src/auth/b.py", "src/auth/c.py", "src/auth/d.py"]))
SCOPE_PLEA = dict(diff=diff(["src/auth2/x.py"]))


def scope_verdict(*waivers):
    return verdict(spec(), [plea(**SCOPE_PLEA)], waivers=waivers)


def test_an_applicable_scope_waiver_turns_waiver_required_into_pass():
    record = scope_verdict(waiver(gates=["scope_boundary"]))
    assert record["status"] == "PASS"
    assert record["violations"][0]["waived_by"] == "WV-0001"
    assert record["waiver_info"] == [{"waiver_id": "WV-0001", "applied": True, "gates": ["scope_boundary"],
                                      "reason": "applied to scope_boundary", "expires_at": "2026-12-01T00:00:00Z"}]
    assert record["trust_score"] <= 79


def test_a_waiver_expiring_exactly_at_now_does_not_apply():
    record = scope_verdict(waiver(gates=["scope_boundary"], expires_at="2026-11-25T12:00:00Z"))
    assert record["status"] == "WAIVER_REQUIRED" and unwaived(record) == ["scope_boundary"]
    assert record["waiver_info"][0]["applied"] is False
    assert "expired" in record["waiver_info"][0]["reason"]


def test_a_waiver_expiring_one_second_after_now_applies():
    assert scope_verdict(waiver(gates=["scope_boundary"], expires_at="2026-11-25T12:00:01Z"))["status"] == "PASS"


def test_expiry_compares_instants_not_text():
    same_instant = waiver(gates=["scope_boundary"], expires_at="2026-11-25T13:00:00+01:00")
    assert scope_verdict(same_instant)["status"] == "WAIVER_REQUIRED"


@pytest.mark.parametrize("status", ["revoked", "proposed"])
def test_a_revoked_or_proposed_waiver_does_not_apply(status):
    record = scope_verdict(waiver(gates=["scope_boundary"], status=status))
    assert record["status"] == "WAIVER_REQUIRED"
    assert record["waiver_info"][0]["reason"] == f"not applied: status is {status}, not active"


def test_a_waiver_for_another_spec_does_not_apply():
    record = scope_verdict(waiver(gates=["scope_boundary"], applies_to="FEAT-43"))
    assert record["status"] == "WAIVER_REQUIRED"
    assert record["waiver_info"][0]["reason"] == "not applied: applies to FEAT-43, not FEAT-42"


def test_a_waiver_for_another_gate_does_not_apply():
    record = scope_verdict(waiver(gates=["naming"]))
    assert record["status"] == "WAIVER_REQUIRED" and unwaived(record) == ["scope_boundary"]
    assert record["waiver_info"][0]["reason"].startswith("eligible, but no violation of its gates (naming)")


@pytest.mark.parametrize("gate", ["tests", "manual_review", "provenance"])
def test_non_waivable_gates_are_never_waived(gate):
    the_plea = {"tests": plea(gate_results={"tests_pass": False, "lint_pass": True, "coverage_branch": 0.95,
                                            "mutation_score": 0.9, "contracts": {"consumer": True, "provider": True}}),
                "manual_review": plea(gate_results={"tests_pass": True, "coverage_branch": 0.95, "mutation_score": 0.9,
                                                    "contracts": {"consumer": True, "provider": True}}),
                "provenance": plea(rationale="")}[gate]
    record = verdict(spec(risk_tier=1), [the_plea], waivers=[waiver(gates=[gate])])
    assert record["status"] == "FAIL" and gate in unwaived(record)


def test_a_waiver_without_approvals_does_not_apply():
    record = scope_verdict(waiver(gates=["scope_boundary"], approvers=[]))
    assert record["waiver_info"][0]["reason"] == "not applied: 0 approval(s); a waiver needs 1"


def test_the_creators_own_approval_never_counts():
    record = scope_verdict(waiver(gates=["scope_boundary"], created_by="carol"))
    assert record["status"] == "WAIVER_REQUIRED"


def test_the_same_approver_twice_counts_once():
    twice = [{"handle": "carol", "approved_at": "2026-11-24T10:00:00Z"}] * 2
    assert waiver(approvers=twice).approvals() == 1


def test_a_budget_raise_with_one_approver_does_not_apply():
    raise_ = waiver(delta={"max_files": 1, "max_loc": 0})
    record = verdict(spec(**budget(3, 100)), [plea(**OVER_BY_ONE_FILE)], waivers=[raise_])
    assert record["status"] == "WAIVER_REQUIRED" and unwaived(record) == ["budget_limit"]
    assert record["waiver_info"][0]["reason"] == "not applied: 1 approval(s); a budget raise needs 2"
    assert record["caws_compliance"]["budget_adherence"]["max_files"] == 3


def test_a_budget_raise_with_two_approvers_applies_pass_waived_by_and_trust_capped():
    raise_ = waiver(delta={"max_files": 1, "max_loc": 0}, approvers=two_approvers())
    record = verdict(spec(**budget(3, 100)), [plea(**OVER_BY_ONE_FILE)], waivers=[raise_])
    assert record["status"] == "PASS"
    assert record["violations"] == [{
        "gate": "budget_limit", "waivable": True, "waived_by": "WV-0001",
        "message": "change exceeds the budget: 4 files > max_files 3; covered by waiver delta(s) WV-0001 "
                   "(effective max_files 4, max_loc 100)"}]
    assert record["caws_compliance"]["budget_adherence"] == {
        "max_files": 4, "max_loc": 100, "actual_files": 4, "actual_loc": 20, "within_budget": True}
    assert record["trust_score"] <= 79


def test_a_budget_raise_too_small_for_the_overage_leaves_the_violation():
    raise_ = waiver(delta={"max_files": 0, "max_loc": 5}, approvers=two_approvers())
    record = verdict(spec(**budget(3, 100)), [plea(**OVER_BY_ONE_FILE)], waivers=[raise_])
    assert record["status"] == "WAIVER_REQUIRED" and record["violations"][0]["waived_by"] is None
    assert "with waiver deltas of WV-0001: effective max_files 3, max_loc 105" in record["violations"][0]["message"]


def test_a_zero_delta_budget_waiver_cannot_lift_a_budget():
    record = verdict(spec(**budget(3, 100)), [plea(**OVER_BY_ONE_FILE)], waivers=[waiver()])
    assert record["status"] == "WAIVER_REQUIRED"


def test_deltas_of_several_applicable_waivers_add_up():
    one = waiver(id="WV-0001", delta={"max_files": 1, "max_loc": 0}, approvers=two_approvers())
    two = waiver(id="WV-0002", delta={"max_files": 1, "max_loc": 0}, approvers=two_approvers())
    five_files = dict(diff=diff([f"src/auth/{n}.py" for n in "abcde"]))
    record = verdict(spec(**budget(3, 100)), [plea(**five_files)], waivers=[two, one])
    assert record["status"] == "PASS"
    assert record["caws_compliance"]["budget_adherence"]["max_files"] == 5
    assert [w["waiver_id"] for w in record["waiver_info"]] == ["WV-0001", "WV-0002"]


def test_a_negative_delta_is_rejected_with_its_path():
    result = parse_waiver(waiver_data(delta={"max_files": -1, "max_loc": 0}))
    assert isinstance(result, Err) and result.errors[0].path == "$.delta.max_files"


def test_a_negative_delta_built_in_code_is_never_eligible():
    bad = waiver().__class__(**{**waiver().__dict__, "delta_files": -1})
    assert eligibility(bad, "FEAT-42", NOW, policy()).reason.startswith("delta is negative")


def test_waiver_lists_report_every_error_path_and_duplicates():
    result = parse_waivers([waiver_data(), waiver_data(), waiver_data(id="WV-1", status="expired")])
    assert isinstance(result, Err)
    assert [(e.rule, e.path) for e in result.errors] == [
        ("waiver.duplicate_id", "$[1].id"), ("waiver.schema.pattern", "$[2].id"),
        ("waiver.schema.enum", "$[2].status")]


def test_yaml_timestamps_are_accepted_as_times():
    data = waiver_data(expires_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    assert parse_waiver(data).unwrap().expires_at == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_waiver_lists_must_be_lists_of_mappings():
    assert parse_waivers(None).unwrap() == ()
    assert parse_waivers({"id": "WV-0001"}).errors[0].path == "$"
    assert parse_waivers(["WV-0001"]).errors[0].path == "$[0]"


def test_a_naive_yaml_timestamp_is_utc_as_yaml_defines():
    data = waiver_data(expires_at=dt.datetime(2026, 12, 1))
    assert parse_waiver(data).unwrap().expires_at == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_a_time_string_without_a_zone_is_rejected():
    result = parse_waiver(waiver_data(expires_at="2026-12-01T00:00:00"))
    assert isinstance(result, Err) and result.errors[0].path == "$.expires_at"
