"""Working spec validation: shape, semantic rules and field paths (CONTRACTS 2.1)."""

from __future__ import annotations

import json

import pytest
import yaml

from arbiter.result import Err, Ok
from arbiter.spec import parse_spec

from .builders import spec_data


def errors_of(source) -> list[tuple[str, str]]:
    result = parse_spec(source)
    assert isinstance(result, Err), "expected the spec to be rejected"
    return [(e.rule, e.path) for e in result.errors]


def test_valid_spec_as_mapping_yaml_and_json_gives_the_same_spec():
    data = spec_data()
    from_map = parse_spec(data).unwrap()
    assert parse_spec(yaml.safe_dump(data)).unwrap() == from_map
    assert parse_spec(json.dumps(data)).unwrap() == from_map
    assert (from_map.id, from_map.risk_tier, from_map.max_files, from_map.max_loc) == ("FEAT-42", 2, 3, 30)
    assert from_map.scope_in == ("src/auth", "tests/auth") and from_map.scope_out == ("src/auth/secrets",)


def test_malformed_yaml_names_line_and_column():
    result = parse_spec("id: FEAT-1\ntitle: [unclosed\nrisk_tier: 2\n")
    assert isinstance(result, Err)
    assert result.errors[0].rule == "working_spec.parse"
    assert result.errors[0].path.startswith("line ")


def test_malformed_json_names_line():
    result = parse_spec('{"id": "FEAT-1",\n "title": }')
    assert isinstance(result, Err) and result.errors[0].path == "line 2, column 11"


def test_unknown_top_level_key_is_rejected_at_its_path():
    assert ("working_spec.schema.additionalProperties", "$.max_files") in errors_of(spec_data(max_files=99))


def test_unknown_nested_key_is_rejected_at_its_path():
    data = spec_data(change_budget={"max_files": 3, "max_loc": 30, "max_hours": 2})
    assert ("working_spec.schema.additionalProperties", "$.change_budget.max_hours") in errors_of(data)


@pytest.mark.parametrize(("overrides", "path"), [
    ({"risk_tier": 4}, "$.risk_tier"),
    ({"risk_tier": "2"}, "$.risk_tier"),
    ({"id": "feat-42"}, "$.id"),
    ({"title": "short"}, "$.title"),
    ({"mode": "development"}, "$.mode"),
    ({"operational_rollback_slo": "15 minutes"}, "$.operational_rollback_slo"),
    ({"change_budget": {"max_files": 0, "max_loc": 30}}, "$.change_budget.max_files"),
    ({"change_budget": {"max_files": "ten", "max_loc": 30}}, "$.change_budget.max_files"),
    ({"scope": {"in": [], "out": []}}, "$.scope.in"),
    ({"invariants": []}, "$.invariants"),
    ({"acceptance": [{"id": "AC1", "given": "g", "when": "w", "then": "t"}]}, "$.acceptance[0].id"),
    ({"contracts": [{"type": "soap", "path": "x"}]}, "$.contracts[0].type"),
])
def test_shape_errors_carry_the_failing_field_path(overrides, path):
    assert path in [p for _, p in errors_of(spec_data(**overrides))]


def test_missing_required_field_points_at_the_field():
    data = spec_data()
    del data["acceptance"]
    assert ("working_spec.schema.required", "$.acceptance") in errors_of(data)


@pytest.mark.parametrize("tier", [1, 2])
def test_tiers_1_and_2_need_a_contract(tier):
    assert errors_of(spec_data(risk_tier=tier, contracts=[])) == [
        ("working_spec.semantic.contracts_required", "$.contracts")]


def test_tier_3_may_have_no_contract():
    assert isinstance(parse_spec(spec_data(risk_tier=3, contracts=[])), Ok)


@pytest.mark.parametrize(("mode", "tier", "ok"), [
    ("doc", 3, True), ("chore", 3, True), ("doc", 2, False), ("chore", 1, False), ("fix", 1, True),
])
def test_doc_and_chore_only_on_tier_3(mode, tier, ok):
    result = parse_spec(spec_data(mode=mode, risk_tier=tier))
    if ok:
        assert isinstance(result, Ok)
    else:
        assert [(e.rule, e.path) for e in result.errors] == [("working_spec.semantic.mode_tier", "$.mode")]


def test_duplicate_acceptance_ids_are_rejected():
    item = {"id": "A1", "given": "g", "when": "w", "then": "t"}
    assert errors_of(spec_data(acceptance=[item, item])) == [
        ("working_spec.semantic.duplicate_acceptance_id", "$.acceptance[1].id")]


@pytest.mark.parametrize("text", ["", "just a sentence", "- a\n- list\n"])
def test_a_document_that_is_not_a_mapping_is_rejected(text):
    assert errors_of(text)[0] == ("working_spec.schema.type", "$")
