"""Waivers: create, approve (scope, once per principal, never the creator), revoke, and their effect on verdicts."""

from __future__ import annotations

from tests.caws_service.conftest import make_key, plea_body, waiver_body

LINT_FAILS = {"tests_pass": True, "lint_pass": False, "coverage_branch": 0.93, "mutation_score": 0.75,
              "contracts": {"consumer": True, "provider": True}}


def test_create_approve_activates_and_applies(client) -> None:
    creator, approver = make_key(client), make_key(client)
    waiver = client.post("/caws/waivers", json=waiver_body(), headers=creator)
    assert waiver.status_code == 201, waiver.text
    wid = waiver.json()["id"]
    assert waiver.json()["status"] == "proposed" and waiver.json()["approvers"] == []
    body = plea_body(gate_results=LINT_FAILS, waiver_ids=[wid])
    assert client.post("/caws/adjudicate", json=body, headers=creator).json()["status"] == "WAIVER_REQUIRED"
    approved = client.post(f"/caws/waivers/{wid}/approve", headers=approver)
    assert approved.status_code == 200 and approved.json()["status"] == "active"
    record = client.post("/caws/adjudicate", json=body, headers=creator).json()
    assert record["status"] == "PASS" and record["violations"][0]["waived_by"] == wid
    assert record["trust_score"] <= 79
    assert client.get(f"/caws/waivers/{wid}", headers=creator).json()["status"] == "active"
    listed = client.get("/caws/waivers", params={"status": "active"}, headers=creator).json()
    assert wid in {w["id"] for w in listed["data"]}


def test_self_approval_is_403(client) -> None:
    creator = make_key(client)
    wid = client.post("/caws/waivers", json=waiver_body(), headers=creator).json()["id"]
    r = client.post(f"/caws/waivers/{wid}/approve", headers=creator)
    assert r.status_code == 403 and r.json()["error"]["code"] == "self_approval"
    assert client.get(f"/caws/waivers/{wid}", headers=creator).json()["approvers"] == []


def test_double_approval_counts_once(client) -> None:
    """A budget raise needs two approvals: one principal approving twice leaves it proposed."""
    creator, approver, second = make_key(client), make_key(client), make_key(client)
    body = waiver_body(gates=["budget_limit"], delta={"max_files": 2, "max_loc": 100})
    wid = client.post("/caws/waivers", json=body, headers=creator).json()["id"]
    for _ in range(2):
        r = client.post(f"/caws/waivers/{wid}/approve", headers=approver)
        assert r.status_code == 200 and len(r.json()["approvers"]) == 1 and r.json()["status"] == "proposed"
    assert client.post(f"/caws/waivers/{wid}/approve", headers=second).json()["status"] == "active"


def test_approval_needs_the_scope(client) -> None:
    creator, writer = make_key(client), make_key(client, scopes=["waivers:write", "adjudicate"])
    wid = client.post("/caws/waivers", json=waiver_body(), headers=creator).json()["id"]
    r = client.post(f"/caws/waivers/{wid}/approve", headers=writer)
    assert r.status_code == 403 and r.json()["error"]["code"] == "missing_scope"


def test_revoked_and_expired_waivers_never_apply(client) -> None:
    creator, approver = make_key(client), make_key(client)
    wid = client.post("/caws/waivers", json=waiver_body(), headers=creator).json()["id"]
    client.post(f"/caws/waivers/{wid}/approve", headers=approver)
    body = plea_body(gate_results=LINT_FAILS, waiver_ids=[wid])
    expired = client.post("/caws/adjudicate", json={**body, "now": "2026-12-01T00:00:00Z"}, headers=creator).json()
    assert expired["status"] == "WAIVER_REQUIRED" and "expired" in expired["waiver_info"][0]["reason"]
    assert client.post(f"/caws/waivers/{wid}/revoke", headers=creator).json()["status"] == "revoked"
    revoked = client.post("/caws/adjudicate", json=body, headers=creator).json()
    assert revoked["status"] == "WAIVER_REQUIRED" and "revoked" in revoked["waiver_info"][0]["reason"]
    r = client.post(f"/caws/waivers/{wid}/approve", headers=make_key(client))
    assert r.status_code == 409 and client.get(f"/caws/waivers/{wid}", headers=creator).json()["status"] == "revoked"


def test_invalid_waiver_is_400_with_paths(client) -> None:
    headers = make_key(client)
    r = client.post("/caws/waivers", json=waiver_body(gates=[], delta={"max_files": -1, "max_loc": 0},
                                                      status="active"), headers=headers)
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert "$.status" in message
    r = client.post("/caws/waivers", json=waiver_body(gates=[], delta={"max_files": -1, "max_loc": 0}),
                    headers=headers)
    assert r.status_code == 400 and "$.gates" in r.json()["error"]["message"]
    assert "$.delta.max_files" in r.json()["error"]["message"]


def test_unknown_waiver(client) -> None:
    headers = make_key(client)
    assert client.get("/caws/waivers/WV-9999", headers=headers).status_code == 404
    assert client.post("/caws/waivers/WV-9999/approve", headers=headers).status_code == 404
    r = client.post("/caws/adjudicate", json=plea_body(waiver_ids=["WV-9999"]), headers=headers)
    assert r.status_code == 400 and r.json()["error"]["param"] == "$.waiver_ids[0]"
