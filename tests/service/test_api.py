"""The OpenAI-compatible API against a live server, through the official `openai` client (strict
response validation) and raw HTTP for the wire details."""

from __future__ import annotations

import json

import httpx
import jsonschema
import openai
import pytest

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Read the config file."}]
READ_FILE = {"type": "object", "properties": {"path": {"type": "string", "maxLength": 12}}, "required": ["path"],
             "additionalProperties": False}
SEARCH = {"type": "object", "properties": {"query": {"type": "string", "maxLength": 10},
                                           "limit": {"type": "integer", "minimum": 1, "maximum": 9}},
          "required": ["query", "limit"], "additionalProperties": False}
TOOLS = [{"type": "function", "function": {"name": "read_file", "parameters": READ_FILE}},
         {"type": "function", "function": {"name": "web.search", "parameters": SEARCH}}]
SCHEMAS = {"read_file": READ_FILE, "web.search": SEARCH}
ANSWER = {"type": "object", "properties": {"ok": {"type": "boolean"}, "tag": {"enum": ["a", "b", "c"]},
                                           "note": {"type": "string", "maxLength": 6}},
          "required": ["ok", "tag", "note"], "additionalProperties": False}
LONG = {"extra_body": {"ignore_eos": True}}


def chat(client, **kw):
    return client.chat.completions.create(model="worker", messages=kw.pop("messages", MESSAGES), **kw)


def test_health_ready_models(server, client) -> None:
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    assert httpx.get(server.url + "/ready").status_code == 200
    ids = {m.id for m in client.models.list().data}
    assert ids == {"worker", "drafter"}


def test_chat_non_streaming(client) -> None:
    r = chat(client, max_completion_tokens=12, temperature=0, **LONG)
    assert r.object == "chat.completion" and r.model == "worker"
    assert r.choices[0].message.role == "assistant" and isinstance(r.choices[0].message.content, str)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 12 and r.usage.total_tokens == r.usage.prompt_tokens + 12
    spec = r.usage.model_extra["speculative"]
    assert spec["drafted_tokens"] >= spec["accepted_tokens"] >= 0


def test_streaming_invariants_and_usage_chunk(client) -> None:
    """Same id/created/model on every chunk, role first, finish_reason last, then a usage chunk."""
    stream = chat(client, max_tokens=10, temperature=0, stream=True, stream_options={"include_usage": True}, **LONG)
    chunks = list(stream)
    assert len({(c.id, c.created, c.model, c.object) for c in chunks}) == 1
    assert chunks[0].object == "chat.completion.chunk"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    content = [c for c in chunks if c.choices]
    assert content[-1].choices[0].finish_reason == "length"
    assert all(c.choices[0].finish_reason is None for c in content[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 10
    assert all(c.usage is None for c in chunks[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in content)
    assert text == chat(client, max_tokens=10, temperature=0, **LONG).choices[0].message.content


def test_sse_wire_format(server) -> None:
    """Raw SSE: `data: {json}` events, the last one `data: [DONE]`."""
    body = {"model": "worker", "messages": MESSAGES, "max_tokens": 4, "stream": True}
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"
    assert all("choices" in json.loads(e[6:]) for e in events[:-1])


def test_n_choices(client) -> None:
    r = chat(client, n=2, max_tokens=8, temperature=1.0, seed=7, **LONG)
    assert [c.index for c in r.choices] == [0, 1]
    assert r.usage.completion_tokens == 16
    chunks = list(chat(client, n=2, max_tokens=5, stream=True, **LONG))
    finished = [c.choices[0].index for c in chunks if c.choices and c.choices[0].finish_reason]
    assert sorted(finished) == [0, 1]


@pytest.mark.parametrize("stream", [False, True])
def test_stop_string(client, stream: bool) -> None:
    """Output ends right before the first occurrence of the stop string; finish_reason stop."""
    full = chat(client, max_tokens=40, temperature=0, **LONG).choices[0].message.content
    stop = full[10:13]
    expected = full[: full.index(stop)]
    if stream:
        chunks = [c for c in chat(client, max_tokens=40, temperature=0, stop=[stop], stream=True, **LONG) if c.choices]
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        finish = chunks[-1].choices[0].finish_reason
    else:
        r = chat(client, max_tokens=40, temperature=0, stop=stop, **LONG)
        text, finish = r.choices[0].message.content, r.choices[0].finish_reason
    assert text == expected and finish == "stop"


def test_logprobs_shapes(client) -> None:
    r = chat(client, max_tokens=6, logprobs=True, top_logprobs=3, temperature=0, **LONG)
    entries = r.choices[0].logprobs.content
    assert len(entries) == 6
    for e in entries:
        assert e.logprob <= 0 and len(e.top_logprobs) == 3 and isinstance(e.bytes, list)
    chunks = list(chat(client, max_tokens=6, logprobs=True, top_logprobs=2, stream=True, **LONG))
    streamed = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    assert len(streamed) == 6 and all(len(e.top_logprobs) == 2 for e in streamed)


def _reassemble(chunks) -> list[dict]:
    """Tool calls from streamed deltas, as the openai SDK accumulates them (by index)."""
    calls: dict[int, dict] = {}
    for c in chunks:
        for d in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            if d.index not in calls:
                assert d.id and d.type == "function" and d.function.name, "first delta carries id, type, name"
                calls[d.index] = {"id": d.id, "name": d.function.name, "arguments": ""}
            else:
                assert d.id is None
            calls[d.index]["arguments"] += d.function.arguments or ""
    return [calls[i] for i in sorted(calls)]


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "web.search"}}])
def test_forced_tool_calls_validate(client, choice) -> None:
    """tool_choice required / named: the output is tool calls whose arguments validate, streamed or not."""
    for seed in range(3):
        r = chat(client, tools=TOOLS, tool_choice=choice, max_tokens=80, temperature=1.0, seed=seed)
        msg = r.choices[0].message
        assert r.choices[0].finish_reason == "tool_calls" and msg.tool_calls and not msg.content
        for call in msg.tool_calls:
            if isinstance(choice, dict):
                assert call.function.name == "web.search"
            jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])
        chunks = list(chat(client, tools=TOOLS, tool_choice=choice, max_tokens=80, seed=seed, stream=True))
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
        calls = _reassemble(chunks)
        assert calls
        for call in calls:
            jsonschema.validate(json.loads(call["arguments"]), SCHEMAS[call["name"]])


def test_tool_choice_none_never_calls(client) -> None:
    r = chat(client, tools=TOOLS, tool_choice="none", max_tokens=30, temperature=1.0, seed=1)
    assert r.choices[0].message.tool_calls is None and r.choices[0].finish_reason != "tool_calls"


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_strict_validates(client, stream: bool) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": ANSWER}}
    for seed in range(3):
        if stream:
            chunks = [c for c in chat(client, response_format=fmt, max_tokens=60, seed=seed, stream=True) if c.choices]
            text = "".join(c.choices[0].delta.content or "" for c in chunks)
        else:
            text = chat(client, response_format=fmt, max_tokens=60, seed=seed).choices[0].message.content
        jsonschema.validate(json.loads(text), ANSWER)


def test_json_object(client) -> None:
    r = chat(client, response_format={"type": "json_object"}, max_tokens=200, temperature=0.7, seed=3)
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_unknown_model_is_404_error_object(client) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert err.value.body["type"] == "not_found_error" and err.value.body["param"] == "model"


@pytest.mark.parametrize("messages", [[], [{"role": "wizard", "content": "x"}], [{"role": "user", "content": 5}],
                                      "hello", [{"content": "no role"}]])
def test_malformed_messages_are_400_error_objects(server, messages) -> None:
    r = httpx.post(server.url + "/v1/chat/completions", json={"model": "worker", "messages": messages})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"].startswith("messages")
    assert set(err) == {"message", "type", "param", "code"}


def test_bad_requests(server) -> None:
    url = server.url + "/v1/chat/completions"
    cases = [({"model": "worker", "messages": MESSAGES, "n": 9}, "n"),
             ({"model": "worker", "messages": [{"role": "user", "content": "word " * 3000}]}, "messages"),
             ({"model": "worker", "messages": MESSAGES, "top_logprobs": 25, "logprobs": True}, "top_logprobs"),
             ({"model": "worker", "messages": MESSAGES, "tool_choice": "required"}, None)]
    for body, param in cases:
        r = httpx.post(url, json=body, timeout=30)
        assert r.status_code == 400, body
        assert r.json()["error"]["param"] == param
    r = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(url, content=b"x" * (5 << 20), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    assert httpx.get(server.url + "/nope").json()["error"]["type"] == "not_found_error"


def test_unknown_fields_are_ignored(client) -> None:
    r = chat(client, max_tokens=3, extra_body={"frobnicate": True, "service_tier": "flex", "store": False,
                                               "metadata": {"a": "b"}, "ignore_eos": True})
    assert r.usage.completion_tokens == 3


def test_text_completions(client) -> None:
    r = client.completions.create(model="worker", prompt="def main(", max_tokens=5, logprobs=2, temperature=0,
                                  **LONG)
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 5
    assert len(r.choices[0].logprobs.tokens) == 5 and all(len(t) == 2 for t in r.choices[0].logprobs.top_logprobs)
    # Streamed completion chunks carry `finish_reason: null` as OpenAI's do, which the SDK's strict mode
    # rejects (its type says non-null), so this part reads the stream without strict validation.
    loose = client.with_options()
    loose._strict_response_validation = False
    chunks = list(loose.completions.create(model="worker", prompt="def main(", max_tokens=5, temperature=0,
                                           stream=True, **LONG))
    assert "".join(c.choices[0].text for c in chunks) == r.choices[0].text
    assert [c.choices[0].finish_reason for c in chunks][-1] == "length"


def test_metrics(server, client) -> None:
    chat(client, max_tokens=8, temperature=0, **LONG)
    text = httpx.get(server.url + "/metrics").text
    for name in ("time_to_first_token_seconds_bucket", "inter_token_latency_seconds_bucket",
                 "e2e_request_latency_seconds_count", "request_queue_time_seconds_count",
                 "spec_decode_num_drafts_total", "spec_decode_num_draft_tokens_total",
                 "spec_decode_num_accepted_tokens_total", 'num_requests_running{model_name="worker"}'):
        assert name in text, name
