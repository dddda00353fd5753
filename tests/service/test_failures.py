"""An engine failure mid-generation: a 500 error object, or an error event before [DONE] when streaming;
the server keeps serving afterwards."""

from __future__ import annotations

import json

import httpx
import pytest

from service.engine.backend import TorchBackend
from tests.service.conftest import serve

BODY = {"model": "worker", "messages": [{"role": "user", "content": "go"}], "max_tokens": 8, "ignore_eos": True}


@pytest.fixture(scope="module")
def flaky_server(tiny_artifacts):
    forward, prefill = TorchBackend.forward, TorchBackend.prefill
    state = {"fail": False, "fail_prefill": False}

    def flaky_forward(self, tokens, positions, row0=0):
        if state["fail"]:
            raise RuntimeError("simulated kernel failure")
        return forward(self, tokens, positions, row0)

    def flaky_prefill(self, tokens, row0):
        if state["fail_prefill"]:
            raise RuntimeError("simulated prefill failure")
        return prefill(self, tokens, row0)

    TorchBackend.forward, TorchBackend.prefill = flaky_forward, flaky_prefill
    try:
        with serve(tiny_artifacts, speculative="off") as live:
            yield live, state
    finally:
        TorchBackend.forward, TorchBackend.prefill = forward, prefill


def test_failure_is_an_error_object_and_the_server_recovers(flaky_server) -> None:
    server, state = flaky_server
    url = server.url + "/v1/chat/completions"
    state["fail"] = True
    r = httpx.post(url, json=BODY, timeout=30)
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "server_error" and "simulated" in r.json()["error"]["message"]
    with httpx.stream("POST", url, json={**BODY, "stream": True}, timeout=30) as s:
        events = [line[6:] for line in s.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and "error" in json.loads(events[-2])
    state["fail"] = False
    r = httpx.post(url, json=BODY, timeout=30)
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 8


def test_prefill_failure_fails_only_that_request(flaky_server) -> None:
    server, state = flaky_server
    url = server.url + "/v1/chat/completions"
    state["fail_prefill"] = True
    r = httpx.post(url, json={**BODY, "n": 2}, timeout=30)
    assert r.status_code == 500 and "prefill" in r.json()["error"]["message"]
    state["fail_prefill"] = False
    assert httpx.post(url, json=BODY, timeout=30).status_code == 200
