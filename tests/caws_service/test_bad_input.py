"""Rejected requests: 400 with field paths (never 422 or 500), 413 over the body limit, and nothing written."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.api.app import create_app
from service.store.tables import ProvenanceEntry, Verdict
from tests.caws_service.conftest import make_key, plea_body, settings_for


def counts(client) -> tuple[int, int]:
    with client.app.state.caws.store.sessions() as session:
        return (session.execute(select(func.count()).select_from(Verdict)).scalar_one(),
                session.execute(select(func.count()).select_from(ProvenanceEntry)).scalar_one())


def test_malformed_spec_is_400_with_field_paths(client, headers) -> None:
    before = counts(client)
    spec = {**plea_body()["working_spec"], "risk_tier": 7, "surprise": True}
    spec.pop("title")
    r = client.post("/caws/adjudicate", json=plea_body(working_spec=spec), headers=headers)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"].startswith("$.working_spec")
    for path in ("$.working_spec.risk_tier", "$.working_spec.surprise", "$.working_spec"):
        assert path in error["message"]
    assert counts(client) == before


@pytest.mark.parametrize("body", [
    [1, 2], "text", {"change_id": "X"}, {**plea_body(), "candidates": []}, {**plea_body(), "now": "yesterday"},
    {**plea_body(), "diff": 5}, {**plea_body(), "waiver_ids": "WV-0001"}, {**plea_body(), "unknown": 1},
])
def test_bad_bodies_are_400_and_write_nothing(client, headers, body) -> None:
    before = counts(client)
    r = client.post("/caws/adjudicate", json=body, headers=headers)
    assert r.status_code == 400, r.text
    assert counts(client) == before


def test_invalid_json_is_400(client, headers) -> None:
    r = client.post("/caws/adjudicate", content=b"{not json", headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_body_over_the_limit_is_413(backend, judge_artifacts, tmp_path) -> None:
    app = create_app(settings_for(backend, tmp_path, judge_artifacts, max_body_bytes=4096))
    with TestClient(app) as client:
        headers = make_key(client)
        before = counts(client)
        r = client.post("/caws/adjudicate", json=plea_body(rationale="x" * 8000), headers=headers)
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
        assert counts(client) == before


def test_huge_paging_numbers_are_400(client, headers) -> None:
    """Found by fuzzing: an offset beyond the database's integer range was a 500."""
    for params in ({"offset": 10**20}, {"limit": 0}, {"limit": 10**6}, {"offset": -1}):
        assert client.get("/caws/verdicts", params=params, headers=headers).status_code == 400
