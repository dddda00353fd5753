"""The HTTP teacher client against a scripted server on loopback: retries, limits, cache, budget, parsing."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from training.teachers import (
    Budget,
    BudgetExhausted,
    HTTPTeacher,
    MalformedResponse,
    TeacherError,
    TeacherFatal,
    TeacherUnavailable,
    open_teacher,
)
from training.teachers.http import RateLimiter, ResponseCache, parse_chat_response, parse_retry_after, split_spec

MESSAGES = [{"role": "user", "content": "hi"}]


def completion(content: str | None = "hello", *, finish: str = "stop", tool_calls=None, logprobs=None,
               reasoning: str | None = None, usage=(7, 3)) -> dict:
    message = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    choice = {"index": 0, "message": message, "finish_reason": finish}
    if logprobs is not None:
        choice["logprobs"] = {"content": logprobs}
    return {"id": "x", "object": "chat.completion", "choices": [choice],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}


Reply = tuple[int, dict[str, str], bytes] | float  # (status, headers, body) or "sleep this long, then 200"


class Script:
    """A loopback HTTP server answering POSTs from a list of scripted replies (the last one repeats)."""

    def __init__(self, replies: list[Reply], models: dict | None = None):
        """`models` is the GET /v1/models body; an empty dict answers 404 instead."""
        self.replies = list(replies)
        self.models = {"data": [{"id": "teacher", "object": "model"}]} if models is None else models
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if not script.models:
                    self._send(404, {}, b"not found")
                    return
                self._send(200, {"Content-Type": "application/json"}, json.dumps(script.models).encode())

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                script.requests.append(body)
                script.headers.append(dict(self.headers))
                reply = script.replies.pop(0) if len(script.replies) > 1 else script.replies[0]
                if isinstance(reply, float):
                    time.sleep(reply)
                    reply = (200, {}, json.dumps(completion("late")).encode())
                status, headers, payload = reply
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(status, {"Content-Type": "application/json", **headers}, payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # a handler still sleeping never holds up the shutdown
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> Script:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def ok(content: str = "hello", **kw) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, json.dumps(completion(content, **kw)).encode()


def error(status: int, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return status, headers or {}, json.dumps({"error": {"message": f"status {status}", "type": "x"}}).encode()


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def teacher(url: str, sleep: Callable[[float], None], **kw) -> HTTPTeacher:
    kw.setdefault("max_retries", 3)
    return HTTPTeacher(url, sleep=sleep, backoff_base=0.01, **kw)


def test_split_spec_and_redaction() -> None:
    assert split_spec("http://127.0.0.1:8000") == ("http://127.0.0.1:8000/v1", None)
    assert split_spec("https://api.example.com/v1/#kimi-k2") == ("https://api.example.com/v1", "kimi-k2")
    t = HTTPTeacher("https://user:sk-secret@api.example.com/v1#m")
    assert "secret" not in t.spec and t.spec == "https://api.example.com/v1#m"
    with pytest.raises(ValueError):
        split_spec("ftp://host")
    with pytest.raises(ValueError):
        open_teacher("artifacts/teacher")


def test_retry_after_parsing() -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After": "7"})) == 7
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "1500", "Retry-After": "9"})) == 1.5
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    now = parse_retry_after(httpx.Headers({"Retry-After": date}), now=lambda: 0.0)
    assert now is not None and now > 1e9
    assert parse_retry_after(httpx.Headers({})) is None


def test_429_honours_retry_after_then_succeeds() -> None:
    sleeps = Sleeps()
    with Script([error(429, {"Retry-After": "7"}), error(503, {"Retry-After": "2"}), ok("fine")]) as s:
        t = teacher(s.url, sleeps)
        turn = t.chat(MESSAGES, max_tokens=5)
    assert turn.content == "fine" and len(s.requests) == 3
    assert sleeps.calls == [7.0, 2.0] and t.retries == 2


def test_5xx_backoff_is_exponential_and_gives_up() -> None:
    sleeps = Sleeps()
    with Script([error(500)]) as s, pytest.raises(TeacherUnavailable) as info:
        teacher(s.url, sleeps, max_retries=4).chat(MESSAGES)
    assert len(s.requests) == 5 and info.value.reason == "http_500"
    assert len(sleeps.calls) == 4
    for i, delay in enumerate(sleeps.calls):  # base 0.01 * 2^i, jitter in [0.5, 1]
        assert 0.005 * 2 ** i <= delay <= 0.01 * 2 ** i


def test_timeouts_are_retried() -> None:
    sleeps = Sleeps()
    with Script([1.0, ok("after timeout")]) as s:
        turn = teacher(s.url, sleeps, timeout=0.2).chat(MESSAGES)
    assert turn.content == "after timeout" and len(sleeps.calls) == 1


def test_timeouts_exhausted_are_reported() -> None:
    with Script([1.0]) as s, pytest.raises(TeacherUnavailable) as info:
        teacher(s.url, Sleeps(), timeout=0.1, max_retries=1).chat(MESSAGES)
    assert info.value.reason == "timeout"


def test_client_errors_are_not_retried() -> None:
    sleeps = Sleeps()
    with Script([error(400)]) as s:
        with pytest.raises(TeacherError) as info:
            teacher(s.url, sleeps).chat(MESSAGES)
        assert info.value.reason == "http_400" and len(s.requests) == 1 and not sleeps.calls
    with Script([error(401)]) as s, pytest.raises(TeacherFatal):
        teacher(s.url, sleeps).chat(MESSAGES)


def test_malformed_responses_are_not_retried() -> None:
    with Script([(200, {}, b"{not json"), ok()]) as s:
        with pytest.raises(MalformedResponse):
            teacher(s.url, Sleeps()).chat(MESSAGES)
        assert len(s.requests) == 1
    for bad in ({"choices": []}, {"choices": [{"message": {"content": 3}}]},
                {"choices": [{"message": {"content": "x"}, "finish_reason": "odd"}]},
                {"choices": [{"message": {"content": "x", "tool_calls": [{"function": {}}]}}]},
                {"choices": [{"message": {"content": "x"}, "logprobs": {"content": [{"token": "x", "logprob": 2}]}}]},
                {"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": "many"}},
                {"choices": [{"message": {"content": "x", "tool_calls": ["not an object"]}}]}):
        with pytest.raises(MalformedResponse):
            parse_chat_response(bad)


def test_api_key_from_env_model_discovery_and_request_shape(monkeypatch) -> None:
    monkeypatch.setenv("KS_TEACHER_API_KEY", "sk-test")
    models = {"data": [{"id": "worker"}, {"id": "teacher", "tokenizer_sha256": "abc"}]}
    with Script([ok()], models=models) as s:
        t = teacher(s.url, Sleeps())
        t.chat(MESSAGES, [{"type": "function", "function": {"name": "f", "parameters": {}}}], top_logprobs=50, seed=3)
        assert t.model == "teacher" and t.tokenizer_sha256 == "abc"
    assert s.headers[0]["Authorization"] == "Bearer sk-test"
    body = s.requests[0]
    assert body["model"] == "teacher" and body["logprobs"] is True and body["top_logprobs"] == 20
    assert body["seed"] == 3 and body["tools"][0]["function"]["name"] == "f"


def test_cache_is_content_addressed_and_key_free(tmp_path) -> None:
    with Script([ok("one"), ok("two")]) as s:
        a = teacher(s.url, Sleeps(), cache_dir=tmp_path, api_key="k1").chat(MESSAGES)
        b = teacher(s.url, Sleeps(), cache_dir=tmp_path, api_key="k2").chat(MESSAGES)
        c = teacher(s.url, Sleeps(), cache_dir=tmp_path).chat(MESSAGES, max_tokens=9)
    assert (a.content, b.content, c.content) == ("one", "one", "two")
    assert not a.cached and b.cached and len(s.requests) == 2
    files = list(tmp_path.rglob("*.json"))
    assert len(files) == 2 and all(len(f.stem) == 64 for f in files)
    assert all("k1" not in f.read_text() for f in files)
    key = ResponseCache.key(f"{s.url}/v1/chat/completions", s.requests[0])
    assert (tmp_path / key[:2] / f"{key}.json").is_file()


def test_budget_stops_requests_and_counts_spend() -> None:
    budget = Budget(max_tokens=15, price_in=1.0, price_out=2.0)
    with Script([ok(usage=(10, 5))]) as s:
        t = teacher(s.url, Sleeps(), budget=budget)
        t.chat(MESSAGES)
        with pytest.raises(BudgetExhausted):
            t.chat(MESSAGES, max_tokens=3)
    assert len(s.requests) == 1
    assert budget.summary()["spend_usd"] == pytest.approx((10 * 1.0 + 5 * 2.0) / 1e6)


def test_reasoning_is_kept_apart_from_the_training_text() -> None:
    calls = [{"id": "c1", "type": "function", "function": {"name": "web.search", "arguments": '{"q":"x"}'}}]
    turn = parse_chat_response(completion(None, finish="tool_calls", tool_calls=calls, reasoning="I think..."))
    assert turn.reasoning == "I think..." and turn.finish_reason == "tool_calls"
    assert turn.render() == '<|tool_call|>web.search<|tool_args|>{"q":"x"}<|/tool_call|><|end|>'
    assert "think" not in turn.render()


def test_logprob_tokens_by_bytes_or_vllm_spelling() -> None:
    entries = [{"token": "a", "logprob": -0.1, "bytes": [97], "top_logprobs": [{"token": "bytes:\\xe2\\x82",
                                                                               "logprob": -0.5}]}]
    turn = parse_chat_response(completion("a", logprobs=entries))
    assert turn.logprobs[0].token == b"a" and turn.logprobs[0].top == ((b"\xe2\x82", -0.5),)


def test_rate_limiter_rpm_and_tpm_with_a_fake_clock() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        now[0] += s

    limiter = RateLimiter(rpm=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.acquire(1)
    assert waits == [60.0]  # the third request waits for the first to leave the window
    waits.clear()
    tpm = RateLimiter(tpm=100, clock=lambda: now[0], sleep=sleep)
    e = tpm.acquire(80)
    tpm.settle(e, 30)  # the real usage was smaller: room for another 70
    tpm.acquire(70)
    assert waits == []
    tpm.acquire(50)
    assert waits == [60.0]
    assert RateLimiter(tpm=10, clock=lambda: now[0], sleep=sleep).acquire(500)[1] == 10  # oversized goes alone


def test_concurrent_requests_share_limits() -> None:
    with Script([ok()]) as s:
        t = teacher(s.url, Sleeps(), concurrency=4, budget=Budget())
        threads = [threading.Thread(target=t.chat, args=(MESSAGES,)) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert len(s.requests) == 8 and t.budget.requests == 8 and t.budget.prompt_tokens == 56


def test_servers_without_a_model_list() -> None:
    with Script([ok("fine")], models={}) as s:
        named = teacher(f"{s.url}/v1#kimi-k2", Sleeps())
        assert named.chat(MESSAGES).content == "fine" and named.tokenizer_sha256 is None
        assert s.requests[0]["model"] == "kimi-k2"
        with pytest.raises(TeacherFatal, match="name one"):
            teacher(s.url, Sleeps()).chat(MESSAGES)
