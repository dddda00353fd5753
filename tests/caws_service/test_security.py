"""Auth and hostile input: 401 without a valid key, 403 without the scope, SQL injection stored verbatim."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select

from service.store.keys import revoke_key
from service.store.tables import Verdict, WaiverRow
from tests.caws_service.conftest import make_key, plea_body, waiver_body

INJECTIONS = ["'; DROP TABLE verdicts; --", "\" OR 1=1 --", "x'); DELETE FROM waivers; --", "Robert'); --"]
ROUTES = [("post", "/caws/adjudicate"), ("get", "/caws/verdicts"), ("get", "/caws/provenance/verify"),
          ("post", "/caws/waivers"), ("get", "/caws/waivers"), ("post", "/caws/claimify"),
          ("post", "/caws/judge/score")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_key_or_wrong_key_is_401(client, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer ks-not-a-key"}, {"Authorization": "Basic abc"}):
        r = getattr(client, method)(path, headers=headers, **({"json": {}} if method == "post" else {}))
        assert r.status_code == 401, (path, headers, r.text)
        assert r.json()["error"]["type"] == "authentication_error"


def test_revoked_key_is_401(client) -> None:
    name = f"soon-revoked-{uuid.uuid4().hex[:8]}"
    headers = make_key(client, name=name)
    assert client.get("/caws/verdicts", headers=headers).status_code == 200
    with client.app.state.caws.store.sessions() as session:
        revoke_key(session, name=name)
    assert client.get("/caws/verdicts", headers=headers).status_code == 401


def test_missing_scope_is_403(client) -> None:
    reader = make_key(client, scopes=["chat"])
    assert client.post("/caws/adjudicate", json=plea_body(), headers=reader).status_code == 403
    assert client.post("/caws/waivers", json=waiver_body(), headers=reader).status_code == 403
    admin = make_key(client, scopes=["admin"])
    assert client.post("/caws/adjudicate", json=plea_body(), headers=admin).status_code == 200


def test_sql_injection_is_stored_verbatim(client, headers) -> None:
    """Every text field holding an injection string comes back byte for byte, and the tables are intact."""
    for evil in INJECTIONS:
        body = plea_body(change_id=f"{evil}-{len(evil)}", rationale=evil + " adds a limiter to src/auth")
        body["evidence_manifest"]["manifest_id"] = evil
        body["gate_results"]["manual_review"] = {"approved_by": evil}
        r = client.post("/caws/adjudicate", json=body, headers=headers)
        assert r.status_code == 200, r.text
        listed = client.get("/caws/verdicts", params={"change_id": body["change_id"]}, headers=headers).json()
        assert listed["count"] == 1 and listed["data"][0]["change_id"] == body["change_id"]
        waiver = client.post("/caws/waivers", json=waiver_body(description=evil, mitigation=evil, risk_owner=evil,
                                                               applies_to=evil), headers=headers)
        assert waiver.status_code == 201
        got = client.get(f"/caws/waivers/{waiver.json()['id']}", headers=headers).json()
        assert (got["description"], got["mitigation"], got["risk_owner"], got["applies_to"]) == (evil,) * 4
        assert client.get("/caws/waivers", params={"applies_to": evil}, headers=headers).json()["count"] >= 1
    with client.app.state.caws.store.sessions() as session:
        assert session.execute(select(func.count()).select_from(Verdict)).scalar_one() > 0
        assert session.execute(select(func.count()).select_from(WaiverRow)).scalar_one() > 0
    assert client.get("/caws/provenance/verify", headers=headers).json()["ok"]


def test_nul_and_control_characters_are_stored_verbatim(client, headers) -> None:
    """PostgreSQL text cannot hold NUL: such values must still round-trip (or be refused), never a 500."""
    evil = "a\x00b\x1b[31m\u202e"
    body = plea_body(change_id=evil)
    r = client.post("/caws/adjudicate", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert client.get("/caws/verdicts/" + r.json()["verdict_id"], headers=headers).json()["change_id"] == evil
    listed = client.get("/caws/verdicts", params={"change_id": evil}, headers=headers).json()
    assert [v["verdict_id"] for v in listed["data"]] == [r.json()["verdict_id"]]
    waiver = client.post("/caws/waivers", json=waiver_body(applies_to=evil, description=evil), headers=headers)
    assert waiver.status_code == 201 and waiver.json()["applies_to"] == evil
    assert client.get("/caws/waivers", params={"applies_to": evil}, headers=headers).json()["count"] == 1


@pytest.mark.parametrize("path", ["/caws/adjudicate", "/caws/waivers", "/caws/claimify", "/caws/judge/score"])
def test_lone_surrogates_are_400(client, headers, path: str) -> None:
    bodies = {"/caws/adjudicate": plea_body(rationale="x\ud800"), "/caws/waivers": waiver_body(description="\udfff"),
              "/caws/claimify": {"text": "a\ud800"}, "/caws/judge/score": {"prompt": "\ud800", "candidate": "c"}}
    raw = json.dumps(bodies[path])  # ASCII escapes: the request itself is valid JSON
    r = client.post(path, content=raw, headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_value"
