"""The HTTP adjudication body adapter: shapes of CONTRACTS §1 and error paths."""

from __future__ import annotations

import datetime as dt

import yaml

from arbiter.request import adjudicate_request, waiver_ids
from arbiter.result import Err

from .builders import NOW, diff, gates, manifest, plea, policy, spec_data, verdict, waiver


def body(**overrides):
    data = {"change_id": "FEAT-42-r1", "working_spec": spec_data(), "diff": diff(),
            "rationale": "Adds a rate limiter to src/auth login.", "evidence_manifest": manifest(),
            "gate_results": gates(), "waiver_ids": [], "now": "2026-11-25T12:00:00Z"}
    data.update(overrides)
    return data


def run(data, **kwargs):
    return adjudicate_request(data, policy=policy(), default_now=NOW + dt.timedelta(days=1), **kwargs)


def test_a_single_plea_body_gives_the_same_verdict_as_the_library():
    record = run(body()).unwrap()
    assert record["status"] == "PASS" and record["winner_candidate_id"] == "FEAT-42-r1"
    assert record["verdict_id"] == verdict(pleas=[plea("FEAT-42-r1")])["verdict_id"]


def test_the_spec_may_be_yaml_text_and_now_defaults_to_the_service_clock():
    data = body(working_spec=yaml.safe_dump(spec_data()))
    del data["now"]
    record = run(data).unwrap()
    assert record["timestamp"] == "2026-11-26T12:00:00Z"


def test_candidates_body():
    data = {k: v for k, v in body().items() if k not in {"diff", "rationale", "evidence_manifest", "gate_results"}}
    data["candidates"] = [{"candidate_id": "a", "diff": diff(), "rationale": "r", "evidence_manifest": manifest(),
                           "gate_results": gates(tests_pass=False)},
                          {"candidate_id": "b", "diff": diff(), "rationale": "r", "evidence_manifest": manifest(),
                           "gate_results": gates()}]
    record = run(data).unwrap()
    assert (record["winner_candidate_id"], record["candidates"][0]["superseded"]) == ("b", True)


def test_errors_carry_paths_in_the_body():
    data = body(working_spec={**spec_data(), "risk_tier": 7}, diff="prose", now="yesterday", max_files=99)
    del data["change_id"]
    result = run(data)
    assert isinstance(result, Err)
    assert [e.path for e in result.errors] == ["$.max_files", "$.change_id", "$.working_spec.risk_tier", "$.now"]
    plea_error = run(body(diff="prose"))
    assert isinstance(plea_error, Err) and plea_error.errors[0].path == "$.diff: line 1"


def test_waivers_resolved_by_the_service_apply():
    data = body(diff=diff(["src/auth2/x.py"]), waiver_ids=["WV-0001"])
    assert waiver_ids(data).unwrap() == ("WV-0001",)
    assert run(data, waivers=[waiver(gates=["scope_boundary"])]).unwrap()["status"] == "PASS"
    assert isinstance(waiver_ids(body(waiver_ids="WV-0001")), Err)


def test_a_body_that_is_not_an_object_or_lacks_a_spec_is_rejected():
    assert run(["not", "an", "object"]).errors[0].rule == "request.type"
    data = body()
    del data["working_spec"]
    assert [e.path for e in run(data).errors] == ["$.working_spec"]
    assert run(body(candidates="x", diff=None)).errors[0].rule == "plea.shape"
