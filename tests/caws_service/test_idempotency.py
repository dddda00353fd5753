"""Idempotency-Key: the same key and body -> the same verdict and one row; the same key, another body -> 409."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from service.store.tables import IdempotencyRecord, Verdict
from tests.caws_service.conftest import plea_body


def count_rows(client, change_id: str) -> int:
    with client.app.state.caws.store.sessions() as session:
        return session.execute(select(func.count()).select_from(Verdict).where(Verdict.change_id == change_id)
                               ).scalar_one()


def test_same_key_same_body_same_verdict(client, headers) -> None:
    body = plea_body()
    body.pop("now")  # server time: without the key, a second request could be a new verdict
    key = {"Idempotency-Key": uuid.uuid4().hex, **headers}
    first = client.post("/caws/adjudicate", json=body, headers=key)
    second = client.post("/caws/adjudicate", json=body, headers=key)
    assert first.status_code == second.status_code == 200
    assert first.json()["verdict_id"] == second.json()["verdict_id"] and first.json() == second.json()
    assert count_rows(client, body["change_id"]) == 1


def test_same_key_other_body_is_409(client, headers) -> None:
    body = plea_body()
    key = {"Idempotency-Key": uuid.uuid4().hex, **headers}
    assert client.post("/caws/adjudicate", json=body, headers=key).status_code == 200
    r = client.post("/caws/adjudicate", json={**body, "rationale": "another reason"}, headers=key)
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_conflict"
    assert count_rows(client, body["change_id"]) == 1


def test_database_answers_when_the_cache_forgot(client, headers) -> None:
    """The cache is only a fast path: with its entry gone, the stored idempotency record still decides."""
    body, idem = plea_body(), uuid.uuid4().hex
    key = {"Idempotency-Key": idem, **headers}
    first = client.post("/caws/adjudicate", json=body, headers=key).json()
    forget(client, headers, idem)
    assert client.post("/caws/adjudicate", json=body, headers=key).json()["verdict_id"] == first["verdict_id"]
    assert client.post("/caws/adjudicate", json={**body, "diff": ""}, headers=key).status_code == 409
    with client.app.state.caws.store.sessions() as session:
        assert session.execute(select(func.count()).select_from(IdempotencyRecord)
                               .where(IdempotencyRecord.scope_key.endswith(idem))).scalar_one() == 1


def forget(client, headers, idem: str) -> None:
    """Drop the cache's entry for this key (Redis: the one key; in-process: everything)."""
    from service.cache import MemoryCache
    from service.store.keys import authenticate

    cache = client.app.state.caws.cache
    if isinstance(cache, MemoryCache):
        cache.close()
        return
    with client.app.state.caws.store.sessions() as session:
        name = authenticate(session, key=headers["Authorization"].split()[1]).name
    assert cache.client.delete(f"{cache.prefix}idem:{name}:{idem}") == 1


def test_idempotency_without_the_cache(client, headers, monkeypatch) -> None:
    """The cache failing for values (not for rate limits) changes nothing: the database record decides."""
    from service.cache import CacheUnavailable

    def unavailable(*args, **kwargs):
        raise CacheUnavailable("down")

    caws = client.app.state.caws
    monkeypatch.setattr(caws.cache, "get", unavailable)
    monkeypatch.setattr(caws.cache, "set", unavailable)
    body, key = plea_body(), {"Idempotency-Key": uuid.uuid4().hex, **headers}
    first = client.post("/caws/adjudicate", json=body, headers=key)
    assert first.status_code == 200
    assert client.post("/caws/adjudicate", json=body, headers=key).json()["verdict_id"] == first.json()["verdict_id"]
    assert client.post("/caws/adjudicate", json={**body, "rationale": "other"}, headers=key).status_code == 409
