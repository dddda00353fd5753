"""Backpressure and cancellation against a live server whose model is slowed down to ~100 tokens/s,
so a request is reliably still running when the test acts on it."""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest
import torch

from service.engine.backend import TorchBackend
from tests.service.conftest import serve

BODY = {"model": "worker", "messages": [{"role": "user", "content": "go"}], "max_tokens": 900,
        "ignore_eos": True, "stream": True}


@pytest.fixture(scope="module")
def slow_server(tiny_artifacts):
    forward = TorchBackend.forward

    def slow_forward(self, tokens, positions, row0=0):
        time.sleep(0.01)
        return forward(self, tokens, positions, row0)

    threads = torch.get_num_threads()
    TorchBackend.forward = slow_forward
    try:
        with serve(tiny_artifacts, speculative="off", max_num_seqs=1, max_queue=1) as live:
            yield live
    finally:
        TorchBackend.forward = forward
        torch.set_num_threads(threads)


def gauge(url: str, name: str) -> float:
    match = re.search(rf'^{name}{{model_name="worker"}} (\S+)$', httpx.get(url + "/metrics").text, re.M)
    return float(match.group(1)) if match else 0.0


def wait_for(predicate, timeout: float) -> float:
    """Seconds until predicate() held; raises after timeout."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)
    return time.monotonic() - start


def test_disconnect_frees_the_slot(slow_server) -> None:
    """A client that drops a stream mid-generation leaves no running request within 1 s."""
    url = slow_server.url
    with httpx.stream("POST", url + "/v1/chat/completions", json=BODY, timeout=30) as r:
        lines = r.iter_lines()
        for _ in range(5):
            next(lines)
        assert gauge(url, "num_requests_running") == 1.0
    assert wait_for(lambda: gauge(url, "num_requests_running") == 0.0, timeout=1.0) < 1.0


def test_full_queue_is_503_with_retry_after(slow_server) -> None:
    """One request running, one waiting (the bound): the next gets 503 + Retry-After, an error object."""
    url = slow_server.url
    stop = threading.Event()

    def hold() -> None:
        with httpx.stream("POST", url + "/v1/chat/completions", json=BODY, timeout=30) as r:
            for _ in r.iter_lines():
                if stop.is_set():
                    return

    holders = [threading.Thread(target=hold, daemon=True) for _ in range(2)]
    try:
        holders[0].start()
        wait_for(lambda: gauge(url, "num_requests_running") == 1.0, timeout=5)
        holders[1].start()
        wait_for(lambda: gauge(url, "num_requests_waiting") == 1.0, timeout=5)
        r = httpx.post(url + "/v1/chat/completions", json={**BODY, "stream": False}, timeout=30)
        assert r.status_code == 503
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["code"] == "queue_full"
    finally:
        stop.set()
        for t in holders:
            t.join(timeout=10)
    wait_for(lambda: gauge(url, "num_requests_running") == 0.0, timeout=2)


def test_non_streaming_client_that_hangs_up_is_cancelled(slow_server) -> None:
    """A non-streamed request whose client times out stops generating (polled every 0.5 s)."""
    url = slow_server.url
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url + "/v1/chat/completions", json={**BODY, "stream": False}, timeout=0.5)
    assert wait_for(lambda: gauge(url, "num_requests_running") == 0.0, timeout=2.0) < 2.0
