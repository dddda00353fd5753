"""A runner for any OpenAI-compatible `/v1/chat/completions` endpoint: plain HTTP, wire format only.

Requests stream (`stream_options.include_usage`) so the client can time the first token. Connection
errors, timeouts, 429 and 5xx are retried with exponential backoff (a `Retry-After` header wins);
when the retries run out, or on any other error status or an unreadable response, the turn raises
`RunnerError`, which the harness records as that item's error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from evaluation.runners.base import Decoding, RunnerError, ToolCall, Turn

RETRY_STATUS = {429, 500, 502, 503, 504}


class OpenAIHTTPRunner:
    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, stream: bool = True,
                 retries: int = 3, backoff_s: float = 0.5, max_backoff_s: float = 8.0, timeout_s: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)
        self.model, self.stream = model, stream
        self.retries, self.backoff_s, self.max_backoff_s, self.sleep = retries, backoff_s, max_backoff_s, sleep

    def close(self) -> None:
        self.client.close()

    def body(self, messages: list[dict], tools: list[dict], decoding: Decoding) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": decoding.temperature,
                                "seed": decoding.seed, "max_tokens": decoding.max_tokens, "stream": self.stream}
        if tools:
            body.update(tools=tools, tool_choice="auto")
        if self.stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def turn(self, messages: list[dict], tools: list[dict], decoding: Decoding) -> Turn:
        body = self.body(messages, tools, decoding)
        last = ""
        for attempt in range(self.retries + 1):
            started = time.perf_counter()
            try:
                with self.client.stream("POST", "/chat/completions", json=body) as resp:
                    if resp.status_code == 200:
                        turn = self._read_stream(resp, started) if self.stream else self._read_json(resp)
                        turn.started, turn.e2e_s, turn.attempts = started, time.perf_counter() - started, attempt + 1
                        return turn
                    resp.read()
                    last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                    if resp.status_code not in RETRY_STATUS:
                        raise RunnerError(last)
                    wait = _retry_after(resp.headers.get("retry-after"))
            except (httpx.TransportError, httpx.StreamError) as exc:
                last, wait = f"{type(exc).__name__}: {exc}", None
            if attempt < self.retries:
                self.sleep(wait if wait is not None else min(self.max_backoff_s, self.backoff_s * 2 ** attempt))
        raise RunnerError(f"gave up after {self.retries + 1} attempts: {last}")

    def _read_json(self, resp: httpx.Response) -> Turn:
        resp.read()
        try:
            data = resp.json()
            choice = data["choices"][0]
            message = choice["message"]
            calls = [ToolCall(str(c["function"]["name"]), _as_text(c["function"].get("arguments")))
                     for c in message.get("tool_calls") or ()]
            tokens = int((data.get("usage") or {}).get("completion_tokens") or 0)
            return Turn(message.get("content") or "", calls, choice.get("finish_reason"), tokens)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise RunnerError(f"unreadable response: {type(exc).__name__}: {exc}") from None

    def _read_stream(self, resp: httpx.Response, started: float) -> Turn:
        turn, calls = Turn(), {}
        for chunk in _sse(resp.iter_lines()):
            if "error" in chunk:
                raise RunnerError(f"error event: {str(chunk['error'])[:200]}")
            if chunk.get("usage"):
                turn.completion_tokens = int(chunk["usage"].get("completion_tokens") or 0)
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                if (delta.get("content") or delta.get("tool_calls")) and turn.ttft_s is None:
                    turn.ttft_s = time.perf_counter() - started
                turn.content += delta.get("content") or ""
                for d in delta.get("tool_calls") or ():
                    call = calls.setdefault(d.get("index", 0), {"name": "", "arguments": ""})
                    fn = d.get("function") or {}
                    call["name"] += fn.get("name") or ""
                    call["arguments"] += _as_text(fn.get("arguments"))
                if choice.get("finish_reason"):
                    turn.finish_reason = choice["finish_reason"]
        turn.tool_calls = [ToolCall(c["name"], c["arguments"]) for _, c in sorted(calls.items())]
        return turn


def _as_text(arguments: Any) -> str:
    if arguments is None:
        return ""
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON payloads of `data:` lines up to `[DONE]`."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise RunnerError(f"unreadable stream event: {exc.msg}") from None
        if isinstance(chunk, dict):
            yield chunk
