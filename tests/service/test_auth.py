"""The OpenAI-compatible routes need a key with scope `chat` when auth is on (CONTRACTS.md §1, "Auth")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from service.store.keys import create_key
from tests.service.conftest import LiveServer, serve

CHAT = {"model": "worker", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0}


@pytest.fixture(scope="module")
def live(tiny_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict]]:
    with serve(tiny_artifacts, auth="on", speculative="off", data_dir=tmp_path_factory.mktemp("data")) as server:
        store = server.server.config.app.state.caws.store
        with store.sessions() as session:
            keys = {name: create_key(session, name=name, scopes=scopes, rate_limit_per_min=None)
                    for name, scopes in (("chat", ["chat"]), ("admin", ["admin"]), ("caws", ["adjudicate"]))}
        yield server, keys


@pytest.mark.parametrize("method,path,body", [("POST", "/v1/chat/completions", CHAT),
                                              ("POST", "/v1/completions", {"model": "worker", "prompt": "a"}),
                                              ("GET", "/v1/models", None)])
def test_v1_routes_refuse_no_key_a_wrong_key_and_a_key_without_the_chat_scope(live, method, path, body):
    server, keys = live
    for headers, status, code in (({}, 401, "missing_api_key"),
                                  ({"Authorization": "Bearer ks-not-a-key"}, 401, "invalid_api_key"),
                                  ({"Authorization": f"Bearer {keys['caws']}"}, 403, "missing_scope")):
        r = httpx.request(method, server.url + path, json=body, headers=headers, timeout=30)
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"] == code


def test_a_chat_key_and_an_admin_key_generate_through_the_openai_client(live):
    server, keys = live
    for name in ("chat", "admin"):
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=keys[name], max_retries=0)
        reply = client.chat.completions.create(**CHAT)
        assert reply.choices[0].finish_reason in ("stop", "length")
        assert [m.id for m in client.models.list().data] == ["worker", "drafter"]


def test_operations_routes_stay_open(live):
    server, _ = live
    for path in ("/health", "/ready", "/metrics"):
        assert httpx.get(server.url + path, timeout=30).status_code == 200

