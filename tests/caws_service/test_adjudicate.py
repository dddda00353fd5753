"""POST /caws/adjudicate and the verdict, listing and provenance endpoints, on every backend."""

from __future__ import annotations

import jsonschema

from arbiter.schema import load_schema
from tests.caws_service.conftest import plea_body


def test_adjudicate_persists_a_chained_verdict(client, headers) -> None:
    """A passing plea -> 200 PASS, schema-valid, sealed, with the Judge's sha256; GET returns the same record."""
    r = client.post("/caws/adjudicate", json=plea_body(), headers=headers)
    assert r.status_code == 200, r.text
    record = r.json()
    jsonschema.validate(record, load_schema("caws_verdict"))
    assert record["status"] == "PASS" and record["provenance"]["entry_hash"]
    assert record["models"]["judge"] and len(record["models"]["judge"]) == 64
    got = client.get(f"/caws/verdicts/{record['verdict_id']}", headers=headers)
    assert got.status_code == 200 and got.json() == record
    chain = client.get("/caws/provenance/verify", headers=headers).json()
    assert chain["ok"] and chain["first_bad_index"] is None and chain["length"] >= 1


def test_candidates_pick_the_best_status(client, headers) -> None:
    """Two candidates: the failing one is superseded by the passing one."""
    base = plea_body()
    good = {k: base[k] for k in ("diff", "rationale", "evidence_manifest", "gate_results")}
    bad = {**good, "gate_results": {**good["gate_results"], "tests_pass": False}}
    body = {"change_id": base["change_id"], "working_spec": base["working_spec"], "now": base["now"],
            "candidates": [{"candidate_id": "c-bad", **bad}, {"candidate_id": "c-good", **good}]}
    record = client.post("/caws/adjudicate", json=body, headers=headers).json()
    assert record["winner_candidate_id"] == "c-good"
    assert {c["candidate_id"]: c["superseded"] for c in record["candidates"]} == {"c-bad": True, "c-good": False}


def test_list_by_change_id(client, headers) -> None:
    body = plea_body()
    first = client.post("/caws/adjudicate", json=body, headers=headers).json()
    second = client.post("/caws/adjudicate", json={**body, "now": "2026-11-25T12:00:01Z"}, headers=headers).json()
    listed = client.get("/caws/verdicts", params={"change_id": body["change_id"]}, headers=headers).json()
    assert listed["count"] == 2 and [v["verdict_id"] for v in listed["data"]] == [first["verdict_id"],
                                                                                   second["verdict_id"]]
    assert second["provenance"]["previous_hash"] != first["provenance"]["previous_hash"]


def test_unknown_verdict_is_404(client, headers) -> None:
    r = client.get("/caws/verdicts/CAWS-VERDICT-AAAAAAAAAAAAAAAA", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


def test_same_inputs_give_one_verdict(client, headers) -> None:
    """The arbiter derives verdict_id from the inputs: a resent body returns the stored record, no new entry."""
    body = plea_body()
    before = client.get("/caws/provenance/verify", headers=headers).json()["length"]
    a = client.post("/caws/adjudicate", json=body, headers=headers).json()
    b = client.post("/caws/adjudicate", json=body, headers=headers).json()
    assert a == b
    assert client.get("/caws/provenance/verify", headers=headers).json()["length"] == before + 1


def test_metrics_count_verdicts_by_status(client, headers) -> None:
    def passed() -> float:
        lines = client.get("/metrics").text.splitlines()
        return next((float(x.split()[-1]) for x in lines if x.startswith('caws_verdicts_total{status="PASS"}')), 0.0)

    before = passed()
    client.post("/caws/adjudicate", json=plea_body(), headers=headers)
    assert passed() == before + 1
