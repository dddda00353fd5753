"""The Swift client's fixtures against the live service: every call the client makes, performed for real,
answers with the schema (keys and JSON types) of its recorded fixture.

`KS_RECORD_FIXTURES=1 pytest tests/swift_bridge/test_fixture_contract.py` rewrites the fixtures from
the live responses (after a deliberate API change); without it the fixtures are only read.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.swift_bridge.conftest import Live
from tests.swift_bridge.contract import CALLS, FIXTURES, Call, differences, request_bodies, schema, stream_chunks

RECORD = os.environ.get("KS_RECORD_FIXTURES") == "1"
CLIENT = FIXTURES.parents[1] / "Sources" / "JudgeBridge" / "JudgeClient.swift"


def request_path(call: Call) -> Path:
    return FIXTURES / f"{call.name}.request.json"


def response_path(call: Call) -> Path:
    return FIXTURES / f"{call.name}.response.{'sse' if call.stream else 'json'}"


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def exchanges(live: Live) -> dict[str, tuple[httpx.Response, str]]:
    """Every call performed once against the live service, in order: name -> (response, body text)."""
    bodies = request_bodies() if RECORD else {c.name: json.loads(request_path(c).read_text())
                                                 for c in CALLS if c.has_body}
    if RECORD:
        FIXTURES.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[httpx.Response, str]] = {}
    with httpx.Client(base_url=live.url, timeout=120) as client:
        for call in CALLS:
            key = live.key if call.key == "valid" else "ks-not-a-key"
            headers = {"Authorization": f"Bearer {key}", **call.headers}
            path = call.path
            if "{verdict_id}" in path:
                path = path.format(verdict_id=out["adjudicate"][0].json()["verdict_id"])
            body = bodies.get(call.name)
            response = client.request(call.method, path, json=body, headers=headers)
            out[call.name] = (response, response.text)
            if RECORD:
                if body is not None:
                    write_json(request_path(call), body)
                if call.stream:
                    response_path(call).write_text(response.text, encoding="utf-8")
                else:
                    write_json(response_path(call), response.json())
    return out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("call", CALLS, ids=[c.name for c in CALLS])
def test_live_response_matches_fixture(call: Call, exchanges) -> None:
    response, text = exchanges[call.name]
    assert response.status_code == call.status, text
    recorded_text = response_path(call).read_text(encoding="utf-8")
    if call.stream:
        assert response.headers["content-type"].startswith("text/event-stream")
        live, recorded = stream_chunks(text), stream_chunks(recorded_text)
        assert live and recorded
        assert live[0]["choices"][0]["delta"].get("role") == "assistant"
        assert live[-1]["choices"] == [] and live[-1]["usage"] is not None  # include_usage: the usage chunk
    else:
        live, recorded = response.json(), json.loads(recorded_text)
    problems = differences(schema(recorded), schema(live))
    assert not problems, "\n".join(problems)


def test_every_call_has_its_fixtures() -> None:
    for call in CALLS:
        assert response_path(call).is_file(), f"no recorded response for {call.name}"
        assert request_path(call).is_file() == call.has_body, f"request fixture of {call.name}"


def test_every_endpoint_of_the_swift_client_is_covered() -> None:
    """The paths JudgeClient.swift calls (its string literals starting with /caws/ or /v1/) all have a fixture."""
    source = CLIENT.read_text(encoding="utf-8")
    used = set(re.findall(r'"(/(?:caws|v1)/[^"\\]*)', source))
    assert used, "no endpoint paths found in JudgeClient.swift"
    covered = [c.path for c in CALLS]
    missing = sorted(p for p in used if not any(t == p or (p.endswith("/") and t.startswith(p)) for t in covered))
    assert not missing, f"endpoints of the Swift client without a fixture: {missing}"
    assert len({c.path for c in CALLS}) == len(used), f"fixtures of paths the client does not call: {used}"


def test_schema_comparison_catches_drift() -> None:
    recorded = schema({"score": 0.5, "clauses": {"A": 0.1}, "items": [{"id": "x"}, {"id": "y", "extra": 1}]})
    assert differences(recorded, schema({"score": 1, "clauses": {"A": 0.2}, "items": []})) == []
    assert differences(recorded, schema({"score": None, "clauses": {"A": 0.2}, "items": [{"id": "z"}]})) == []
    assert differences(recorded, schema({"score": "high", "clauses": {"A": 0.2}, "items": []})) == [
        "$.score: recorded number, live string"]
    assert differences(recorded, schema({"score": 0.5, "clauses": {}, "items": []})) == [
        "$.clauses.A: recorded, missing from the live response"]
    assert differences(recorded, schema({"score": 0.5, "clauses": {"A": 0.2}, "items": [], "new": True})) == [
        "$.new: in the live response, missing from the fixture"]
    assert differences(schema({"n": 3}), schema({"n": 3.5})) == ["$.n: recorded integer, live number"]


OPEN_OBJECTS = {"working_spec", "clauses"}  # free-form documents and clause-name maps: JSONValue / [String: Double]


def swift_wire_names() -> set[str]:
    """Every wire name the Swift models spell in their `CodingKeys` (`case x = "raw"` or `case x`)."""
    names: set[str] = set()
    for path in (FIXTURES.parents[1] / "Sources" / "JudgeBridge").glob("*.swift"):
        text = path.read_text(encoding="utf-8")
        for block in re.findall(r"enum CodingKeys: String, CodingKey \{(.*?)\n\s*\}", text, re.S):
            names |= {raw or name for name, raw in re.findall(r'case (\w+)(?: = "([^"]+)")?', block)}
    return names


def object_keys(value: Any) -> set[str]:
    if isinstance(value, list):
        return set().union(*(object_keys(v) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    keys = set(value)
    for key, item in value.items():
        if key not in OPEN_OBJECTS:
            keys |= object_keys(item)
    return keys


def test_every_fixture_field_has_a_swift_coding_key() -> None:
    """A field the service sends or accepts that no Swift model names would be dropped silently: fail instead."""
    names = swift_wire_names()
    assert {"verdict_id", "finish_reason", "evidence_items", "include_usage"} <= names
    for call in CALLS:
        documents = [json.loads(request_path(call).read_text())] if call.has_body else []
        text = response_path(call).read_text(encoding="utf-8")
        documents += stream_chunks(text) if call.stream else [json.loads(text)]
        missing = sorted(object_keys(documents) - names)
        assert not missing, f"{call.name}: fields without a Swift CodingKey: {missing}"
