"""The compiled schema check (fastjsonschema) never changes what `validate` answers.

`arbiter.schema.validate` returns at once when the compiled check accepts a document, so that check
must never accept a document `jsonschema` (Draft 2020-12, the authority) rejects. Hypothesis mutates
valid documents of every schema (wrong types, bools for numbers, integral floats, naive date-times,
unknown keys, removed keys, bad enum values) and compares `validate` with `jsonschema` alone.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbiter.claims.pipeline import claimify
from arbiter.codec import normalize
from arbiter.provenance import append
from arbiter.schema import _to_diagnostic, _validator, validate
from tests.unit.arbiter import builders

TEXT = ("The limiter returns HTTP 429 after 5 failed logins. All 24 auth tests passed in CI. "
        "It might be faster.")
POLICY = builders.policy()


def _documents() -> dict[str, dict[str, Any]]:
    record = builders.verdict()
    request = {"text": TEXT, "context": {"change": "change FEAT-42", "references": {"It": "The limiter"}},
               "evidence_manifest": builders.manifest()}
    return {
        "working_spec": builders.spec_data(),
        "evidence_manifest": builders.manifest(),
        "gate_results": builders.gates(),
        "waiver": builders.waiver_data(),
        "policy": normalize(builders.policy_data()),  # YAML int keys -> JSON strings, as parse_policy does
        "caws_verdict": record,
        "provenance_entry": append([], record),
        "claimify_request": request,
        "claimify_response": claimify(TEXT, policy=POLICY.claims, context=request["context"],
                                      evidence_manifest=request["evidence_manifest"]).unwrap(),
    }


DOCUMENTS = _documents()
ODD_VALUES = [  # inserted as copies: a later mutation must never reach this list
    None, True, False, 0, 1, -1, 1.0, 2.5, -0.5, 10**20, "", "x", "FEAT-42", "2026-11-25T12:00:00",
    "2026-11-25T12:00:00Z", "not a date", "é\u0000", [], [1], ["x"], {}, {"a": 1}]


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside doc (dict keys and list indexes), the root excluded."""
    out: list[tuple] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        out.append((*prefix, key))
        out += _paths(value, (*prefix, key))
    return out


@st.composite
def mutated(draw) -> tuple[str, Any]:
    name = draw(st.sampled_from(sorted(DOCUMENTS)))
    doc = copy.deepcopy(DOCUMENTS[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add_key"]))
        if action == "replace":
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "id", "status", "gate"]))] = copy.deepcopy(
                draw(st.sampled_from(ODD_VALUES)))
    return name, doc


def _authority(name: str, instance: Any) -> tuple:
    errors = (_to_diagnostic(name, e) for e in _validator(name).iter_errors(instance))
    return tuple(sorted(errors, key=lambda d: (d.path, d.rule, d.message)))


def test_every_valid_seed_document_passes_both():
    for name, doc in DOCUMENTS.items():
        assert validate(name, doc) == () == _authority(name, doc), name


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_validate_answers_what_jsonschema_answers(case):
    name, doc = case
    assert validate(name, doc) == _authority(name, doc)


def test_a_mutation_the_fast_check_might_miss_is_still_caught():
    """The cases where the compiled check and jsonschema could disagree: bools are not numbers,
    a naive date-time has no timezone, an integral float is an integer for jsonschema."""
    spec = builders.spec_data(risk_tier=True)
    assert [d.rule for d in validate("working_spec", spec)] == [r.rule for r in _authority("working_spec", spec)]
    assert validate("working_spec", spec)
    waiver = builders.waiver_data(expires_at="2026-12-01T00:00:00")
    assert validate("waiver", waiver) and validate("waiver", waiver) == _authority("waiver", waiver)
    assert validate("working_spec", builders.spec_data(risk_tier=2.0)) == _authority(
        "working_spec", builders.spec_data(risk_tier=2.0))
