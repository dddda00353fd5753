"""OpenAI-compatible HTTP teacher: chat completions with tools and top-k logprobs.

- Retries 429, 408 and 5xx answers, timeouts and connection errors with exponential backoff (with
  jitter); a `Retry-After` (or `retry-after-ms`) header sets the wait instead. Other 4xx answers
  fail the item at once; 401/403 stop the run (`TeacherFatal`), since nothing else can succeed.
- Client-side limits: requests per minute and tokens per minute over a sliding 60 s window (a
  request is charged its estimated size up front, then its real usage).
- A content-addressed cache: the sha256 of the request (URL + canonical JSON body, never the API
  key) names the stored response, so a re-run or a resumed run pays nothing for answers it has.
- A budget in tokens and/or spend (at given prices per million tokens); cache hits are free.
- `reasoning_content` (thinking models) is returned apart from the content and never rendered.

Thread-safe: one `HTTPTeacher` serves all the worker threads of a run.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import random
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from training.teachers.base import (
    BudgetExhausted,
    MalformedResponse,
    TeacherError,
    TeacherFatal,
    TeacherTurn,
    TeacherUnavailable,
    TokenLogprob,
)

log = logging.getLogger(__name__)

API_KEY_ENV = ("KS_TEACHER_API_KEY", "OPENAI_API_KEY")
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_TOP_LOGPROBS = 20


def api_key_from_env() -> str | None:
    for name in API_KEY_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return None


def split_spec(spec: str) -> tuple[str, str | None]:
    """`http(s)://host[:port][/path][#model]` -> (API base URL ending in /v1, model or None).

    Credentials in the URL (`user:key@host`) are dropped: keys come from the environment."""
    parts = urlsplit(spec)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"teacher URL {spec!r} is not http(s)://host[:port][/v1]")
    netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    if ":" in parts.hostname:  # IPv6 literal
        netloc = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port is not None else "")
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, netloc, path, "", "")), parts.fragment or None


def parse_retry_after(headers: httpx.Headers, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


class RateLimiter:
    """Requests-per-minute and tokens-per-minute over a sliding window."""

    def __init__(self, rpm: int | None = None, tpm: int | None = None, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.rpm, self.tpm, self.window = rpm, tpm, window
        self.clock, self.sleep = clock, sleep
        self.lock = threading.Lock()
        self.events: deque[list[float]] = deque()  # [time, tokens]; tokens updated after the answer

    def _purge(self, now: float) -> None:
        while self.events and self.events[0][0] <= now - self.window:
            self.events.popleft()

    def acquire(self, estimate: int) -> list[float]:
        """Block until a request of about `estimate` tokens fits; returns a handle for `settle`."""
        if self.tpm is not None:
            estimate = min(estimate, self.tpm)  # a request larger than the whole window still goes, alone
        while True:
            with self.lock:
                now = self.clock()
                self._purge(now)
                fits = self.rpm is None or len(self.events) < self.rpm
                used = sum(e[1] for e in self.events)
                fits = fits and (self.tpm is None or not self.events or used + estimate <= self.tpm)
                if fits:
                    event = [now, float(estimate)]
                    self.events.append(event)
                    return event
                wait = self.events[0][0] + self.window - now
            self.sleep(max(wait, 0.01))

    def settle(self, event: list[float], tokens: int) -> None:
        with self.lock:
            event[1] = float(tokens)


@dataclass
class Budget:
    """Tokens and spend of the requests actually made (cache hits are free)."""

    max_tokens: int | None = None
    max_usd: float | None = None
    price_in: float = 0.0  # USD per million prompt tokens
    price_out: float = 0.0  # USD per million completion tokens
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    cache_hits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def spend_usd(self) -> float:
        return (self.prompt_tokens * self.price_in + self.completion_tokens * self.price_out) / 1e6

    @property
    def exhausted(self) -> bool:
        total = self.prompt_tokens + self.completion_tokens
        return ((self.max_tokens is not None and total >= self.max_tokens)
                or (self.max_usd is not None and self.spend_usd >= self.max_usd))

    def charge(self, prompt: int, completion: int) -> None:
        with self.lock:
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self.requests += 1

    def summary(self) -> dict[str, Any]:
        return {"requests": self.requests, "cache_hits": self.cache_hits, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "spend_usd": round(self.spend_usd, 6),
                "max_tokens": self.max_tokens, "max_usd": self.max_usd, "exhausted": self.exhausted}


class ResponseCache:
    """`<dir>/<aa>/<sha256>.json`: one successful response body per request hash."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.dir = Path(directory)

    @staticmethod
    def key(url: str, body: dict[str, Any]) -> str:
        canonical = json.dumps({"url": url, "body": body}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def put(self, key: str, response: dict[str, Any]) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(response, f, ensure_ascii=False)
        os.replace(tmp, path)


def _token_bytes(entry: dict[str, Any]) -> bytes:
    raw = entry.get("bytes")
    if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
        return bytes(raw)
    token = entry.get("token")
    if not isinstance(token, str):
        raise MalformedResponse("a logprobs entry has neither bytes nor a token string")
    if token.startswith("bytes:"):  # vLLM's spelling of tokens that are not whole UTF-8 characters
        try:
            return bytes(int(h, 16) for h in token[len("bytes:"):].split("\\x")[1:])
        except ValueError:
            raise MalformedResponse(f"unreadable token {token!r}") from None
    return token.encode("utf-8")


def _logprob(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value > 1e-6:
        raise MalformedResponse(f"logprob {value!r} is not a number <= 0")
    return float(value)


def parse_chat_response(data: Any) -> TeacherTurn:
    """A chat.completion body -> TeacherTurn; anything unexpected is a MalformedResponse."""
    try:
        return _parse_chat_response(data)
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
        raise MalformedResponse(f"unreadable chat completion ({type(exc).__name__}: {exc})") from None


def _parse_chat_response(data: Any) -> TeacherTurn:
    if not isinstance(data, dict):
        raise MalformedResponse("the response is not a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse("the response has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise MalformedResponse("the choice has no message")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise MalformedResponse("message.content is not a string")
    reasoning = message.get("reasoning_content", message.get("reasoning"))
    calls = []
    for call in message.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise MalformedResponse("a tool call has no function name")
        args = fn.get("arguments", "")
        if not isinstance(args, str):
            args = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
        calls.append((fn["name"], args))
    finish = choice.get("finish_reason")
    if finish not in ("stop", "length", "tool_calls", "content_filter", None):
        raise MalformedResponse(f"unknown finish_reason {finish!r}")
    logprobs = None
    lp = choice.get("logprobs")
    if isinstance(lp, dict) and lp.get("content") is not None:
        if not isinstance(lp["content"], list):
            raise MalformedResponse("logprobs.content is not a list")
        logprobs = []
        for entry in lp["content"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("top_logprobs", []), list):
                raise MalformedResponse("a logprobs entry is not an object with top_logprobs")
            top = tuple((_token_bytes(t), _logprob(t.get("logprob"))) for t in entry.get("top_logprobs", [])
                        if isinstance(t, dict))
            logprobs.append(TokenLogprob(_token_bytes(entry), _logprob(entry.get("logprob")), top))
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return TeacherTurn(
        content=content or "", tool_calls=calls,
        finish_reason="length" if finish == "length" else ("tool_calls" if calls else "stop"),
        reasoning=reasoning if isinstance(reasoning, str) and reasoning else None,
        logprobs=logprobs,
        prompt_tokens=int(usage.get("prompt_tokens") or 0), completion_tokens=int(usage.get("completion_tokens") or 0),
    )


class HTTPTeacher:
    kind = "http"

    def __init__(
        self,
        spec: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        retry_after_cap: float = 300.0,
        rpm: int | None = None,
        tpm: int | None = None,
        concurrency: int = 4,
        cache_dir: str | os.PathLike[str] | None = None,
        budget: Budget | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.base_url, fragment = split_spec(spec)
        self._model = model or fragment
        key = api_key if api_key is not None else api_key_from_env()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(timeout=timeout, headers=headers, transport=transport,
                                   limits=httpx.Limits(max_connections=max(1, concurrency)))
        self.max_retries, self.backoff_base, self.backoff_cap = max_retries, backoff_base, backoff_cap
        self.retry_after_cap = retry_after_cap
        self.limiter = RateLimiter(rpm, tpm, clock=clock, sleep=sleep)
        self.cache = ResponseCache(cache_dir) if cache_dir is not None else None
        self.budget = budget or Budget()
        self.sleep = sleep
        self.concurrency = max(1, concurrency)
        self.retries = 0
        self._cards: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()

    @property
    def spec(self) -> str:
        """The teacher as recorded in a dataset header: URL and model, never a key."""
        return f"{self.base_url}#{self.model}"

    def close(self) -> None:
        self.client.close()

    # ---- model discovery ------------------------------------------------------------------------

    def _model_cards(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._cards is None:
                try:
                    data = self._send("GET", "/models", None).get("data")
                    self._cards = [c for c in data if isinstance(c, dict)] if isinstance(data, list) else []
                except TeacherFatal:
                    raise
                except TeacherError as exc:  # not every OpenAI-compatible server lists its models
                    if self._model is None:
                        raise TeacherFatal(f"{self.base_url}: cannot list models ({exc}); name one with "
                                           "URL#model or --teacher-model", "no_model") from None
                    self._cards = []
            return self._cards

    @property
    def model(self) -> str:
        if self._model is None:
            ids = [c.get("id") for c in self._model_cards() if isinstance(c.get("id"), str)]
            if not ids:
                raise TeacherFatal(f"{self.base_url}/models lists no model; name one with URL#model", "no_model")
            self._model = "teacher" if "teacher" in ids else ids[0]
        return self._model

    @property
    def tokenizer_sha256(self) -> str | None:
        """The served model's tokenizer hash when the server says (our service's extension), else None."""
        for card in self._model_cards():
            if card.get("id") == self.model:
                value = card.get("tokenizer_sha256")
                return value if isinstance(value, str) else None
        return None

    # ---- requests -------------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_cap, self.backoff_base * 2 ** attempt) * (0.5 + random.random() / 2)

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """One request with retries; returns the JSON body of a 200 answer."""
        url = self.base_url + path
        last = ""
        for attempt in range(self.max_retries + 1):
            wait: float | None = None
            try:
                r = self.client.request(method, url, json=body)
            except httpx.TimeoutException as exc:
                last = f"timeout ({type(exc).__name__})"
            except httpx.TransportError as exc:
                last = f"connection error ({type(exc).__name__}: {exc})"
            else:
                if r.status_code == 200:
                    try:
                        return r.json()
                    except ValueError:
                        raise MalformedResponse(f"{method} {path}: the 200 answer is not JSON: {r.text[:120]!r}"
                                                ) from None
                message = _error_message(r)
                if r.status_code in (401, 403):
                    raise TeacherFatal(f"{method} {path}: {r.status_code} {message}", f"http_{r.status_code}")
                if r.status_code not in RETRY_STATUS:
                    raise TeacherError(f"{method} {path}: {r.status_code} {message}", f"http_{r.status_code}")
                last = f"{r.status_code} {message}"
                wait = parse_retry_after(r.headers)
                if wait is not None:
                    wait = min(wait, self.retry_after_cap)
            if attempt == self.max_retries:
                break
            with self._lock:
                self.retries += 1
            delay = wait if wait is not None else self._backoff(attempt)
            log.info("teacher %s %s: %s; retry %d/%d in %.1fs", method, path, last, attempt + 1,
                     self.max_retries, delay)
            self.sleep(delay)
        reason = "http_" + last.split()[0] if last[:1].isdigit() else last.split()[0]
        raise TeacherUnavailable(f"{method} {path}: {last} after {self.max_retries} retries", reason)

    def chat(
        self,
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]] | None = None,
        *,
        max_tokens: int = 512,
        temperature: float = 1.0,
        top_logprobs: int = 0,
        seed: int | None = None,
    ) -> TeacherTurn:
        body: dict[str, Any] = {"model": self.model, "messages": list(messages), "max_tokens": max_tokens,
                                "temperature": temperature}
        if tools:
            body["tools"] = list(tools)
        if top_logprobs > 0:
            body["logprobs"] = True
            body["top_logprobs"] = min(top_logprobs, MAX_TOP_LOGPROBS)
        if seed is not None:
            body["seed"] = seed
        key = ResponseCache.key(self.base_url + "/chat/completions", body)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            with self.budget.lock:
                self.budget.cache_hits += 1
            turn = parse_chat_response(hit)
            turn.cached = True
            return turn
        if self.budget.exhausted:
            raise BudgetExhausted("the teacher budget is used up")
        estimate = len(json.dumps(body["messages"])) // 4 + max_tokens
        event = self.limiter.acquire(estimate)
        try:
            data = self._send("POST", "/chat/completions", body)
        except TeacherError:
            self.limiter.settle(event, 0)
            raise
        turn = parse_chat_response(data)  # malformed answers are neither cached nor charged twice
        self.budget.charge(turn.prompt_tokens, turn.completion_tokens)
        self.limiter.settle(event, turn.prompt_tokens + turn.completion_tokens or estimate)
        if self.cache is not None:
            self.cache.put(key, data)
        return turn


def _error_message(r: httpx.Response) -> str:
    try:
        err = r.json().get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:200]
    except (ValueError, AttributeError):
        pass
    return r.text[:200]
