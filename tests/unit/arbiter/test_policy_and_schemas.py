"""configs/caws/policy.yaml pins CONTRACTS section 2; every schema is valid 2020-12."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from jsonschema import Draft202012Validator

from arbiter.loaders import read_policy
from arbiter.policy import parse_policy
from arbiter.result import Err
from arbiter.schema import SCHEMA_NAMES, load_schema, validate

from .builders import POLICY_FILE, policy_data


def test_the_committed_policy_holds_the_contract_values():
    policy = read_policy(POLICY_FILE).unwrap()
    assert [(t, p.coverage_branch, p.mutation_score) for t, p in policy.tiers] == [
        (1, 0.90, 0.70), (2, 0.80, 0.50), (3, 0.70, 0.30)]
    assert [t for t, p in policy.tiers if p.contracts_required] == [1, 2]
    assert [t for t, p in policy.tiers if p.manual_review_required] == [1]
    assert (policy.min_approvers, policy.min_approvers_for_budget_raise) == (1, 2)
    assert policy.judge_mode == "record" and policy.trust.waiver_cap == 79
    assert not policy.waivable & {"tests", "manual_review", "provenance"}
    assert policy.waivable >= {"budget_limit", "scope_boundary", "naming", "coverage_threshold",
                               "mutation_threshold", "contract_compliance", "lint"}


def test_the_default_policy_path_is_the_committed_file():
    assert read_policy().unwrap() == read_policy(POLICY_FILE).unwrap()


@pytest.mark.parametrize(("overrides", "rule", "path"), [
    ({"judge_mode": "advise"}, "policy.schema.enum", "$.judge_mode"),
    ({"extra": 1}, "policy.schema.additionalProperties", "$.extra"),
    ({"waivers": {"min_approvers": 2, "min_approvers_for_budget_raise": 1}},
     "policy.semantic.budget_raise_approvers", "$.waivers.min_approvers_for_budget_raise"),
])
def test_invalid_policies_are_rejected_with_paths(overrides, rule, path):
    result = parse_policy(policy_data(**overrides))
    assert isinstance(result, Err) and (result.errors[0].rule, result.errors[0].path) == (rule, path)


def test_tests_manual_review_and_provenance_cannot_be_made_waivable():
    data = policy_data()
    data["gates"]["tests"]["waivable"] = True
    result = parse_policy(data)
    assert isinstance(result, Err) and result.errors[0].path == "$.gates.tests.waivable"


def test_a_missing_policy_file_is_an_error_not_an_exception(tmp_path):
    result = read_policy(tmp_path / "nope.yaml")
    assert isinstance(result, Err) and result.errors[0].rule == "policy.missing"


def test_a_different_policy_gives_a_different_fingerprint():
    changed = policy_data(judge_min_score=0.7)
    assert parse_policy(changed).unwrap().sha256 != read_policy(POLICY_FILE).unwrap().sha256


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_schema_is_valid_draft_2020_12_with_an_id(name):
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema" and schema["$id"]


def test_the_clause_list_validates_and_matches_the_judge_clauses():
    from arbiter.judge import CLAUSES

    clauses = json.loads(resources.files("arbiter.schemas").joinpath("caws_clauses.json").read_text())
    assert validate("caws_clauses", clauses) == ()
    assert tuple(c["id"] for c in clauses) == CLAUSES


def test_the_verdict_schema_rejects_a_uuid_style_id():
    assert any(e.path == "$.verdict_id" for e in validate("caws_verdict", {"verdict_id": "CAWS-VERDICT-1a2b"}))
