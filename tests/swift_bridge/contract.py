"""The calls the Swift client makes, their recorded fixtures, and the JSON schema both sides must share.

Each call's request body lives in `swift_bridge/Tests/Fixtures/<name>.request.json` (the Swift tests
encode their request values and compare them with it) and its response in `<name>.response.json`
(or `.response.sse` for a stream; the Swift tests decode it). The schema of a JSON value is its
keys and JSON types, recursively: null matches any type (an optional field), an integer matches a
number field but a fraction never matches an integer field, and the elements of an array are merged
into one schema in which a key missing from some objects is optional.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "swift_bridge" / "Tests" / "Fixtures"
EXAMPLES = REPO / "configs" / "caws" / "examples"


@dataclass(frozen=True)
class Call:
    name: str  # fixture stem
    method: str
    path: str  # `{verdict_id}` is the verdict id of the `adjudicate` response
    status: int = 200
    stream: bool = False
    key: str = "valid"  # valid | invalid
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def has_body(self) -> bool:
        return self.method == "POST"


CALLS = (
    Call("adjudicate", "POST", "/caws/adjudicate", headers={"Idempotency-Key": "ios-7f3c2a"}),
    Call("adjudicate_failing", "POST", "/caws/adjudicate"),
    Call("adjudicate_candidates", "POST", "/caws/adjudicate"),
    Call("verdict", "GET", "/caws/verdicts/{verdict_id}"),
    Call("claimify", "POST", "/caws/claimify"),
    Call("judge_score", "POST", "/caws/judge/score"),
    Call("judge_compare", "POST", "/caws/judge/compare"),
    Call("chat_completion", "POST", "/v1/chat/completions"),
    Call("chat_completion_stream", "POST", "/v1/chat/completions", stream=True),
    Call("error_invalid_request", "POST", "/caws/judge/score", status=400),
    Call("error_unauthorized", "POST", "/caws/judge/score", status=401, key="invalid"),
)


def _example(name: str) -> dict[str, Any]:
    d = EXAMPLES / name
    return {"working_spec": yaml.safe_load((d / "spec.yaml").read_text()),
            "rationale": (d / "rationale.txt").read_text(),
            "evidence_manifest": json.loads((d / "evidence.json").read_text()),
            "gate_results": json.loads((d / "gates.json").read_text())}


def request_bodies() -> dict[str, dict[str, Any]]:
    """The request bodies recorded as `<name>.request.json`: what the Swift client sends for each call."""
    plea, failing = _example("01-pass-tier2"), _example("10-tests-failing")
    two = _example("13-two-candidates")
    d13 = EXAMPLES / "13-two-candidates"
    candidates = [{"candidate_id": c, "diff": (d13 / f"{c}.diff").read_text(), "rationale": two["rationale"],
                   "evidence_manifest": two["evidence_manifest"], "gate_results": two["gate_results"]}
                  for c in ("over", "within")]
    chat = {"model": "worker", "messages": [{"role": "system", "content": "You review CAWS changes."},
                                             {"role": "user", "content": "Summarise change FEAT-0042 in one line."}],
            "max_tokens": 12, "temperature": 0.0, "seed": 7}
    prompt = "CAWS working spec FEAT-0042 (tier 2, mode feature): rate-limit failed logins"
    candidate = ("files: 2 of 3\nloc: 18 of 20\nevidence items: 3\ngates: tests=pass lint=pass\n"
                 "paths: src/auth/limiter.py tests/auth/test_limiter.py\nrationale: adds a limiter")
    return {
        "adjudicate": {"change_id": "FEAT-0042-r1", "working_spec": plea["working_spec"],
                       "diff": (EXAMPLES / "01-pass-tier2" / "change.diff").read_text(),
                       "rationale": plea["rationale"], "evidence_manifest": plea["evidence_manifest"],
                       "gate_results": plea["gate_results"], "now": "2026-11-25T12:00:00Z"},
        "adjudicate_failing": {"change_id": "FEAT-0043-r2", **failing,
                               "diff": (EXAMPLES / "10-tests-failing" / "change.diff").read_text(),
                               "now": "2026-11-25T12:00:00Z"},
        "adjudicate_candidates": {"change_id": "FEAT-42-r1", "working_spec": two["working_spec"],
                                  "candidates": candidates, "now": "2026-11-25T12:00:00Z"},
        "claimify": {"text": "This change adds a limiter. All 24 auth tests passed. It is the best limiter ever.",
                     "context": {"prior_text": "", "change": "FEAT-0042", "references": {}},
                     "evidence_manifest": plea["evidence_manifest"]},
        "judge_score": {"prompt": prompt, "candidate": candidate},
        "judge_compare": {"prompt": prompt, "a": candidate, "b": candidate.replace("2 of 3", "7 of 3")},
        "chat_completion": chat,
        "chat_completion_stream": {**chat, "stream": True, "stream_options": {"include_usage": True}},
        "error_invalid_request": {"prompt": prompt},
        "error_unauthorized": {"prompt": prompt, "candidate": candidate},
    }


def sse_events(text: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    return [line[len("data:"):].strip() for line in text.splitlines() if line.startswith("data:")]


def stream_chunks(text: str) -> list[Any]:
    """The JSON chunks of a chat completion stream; the stream must end with `data: [DONE]`."""
    events = sse_events(text)
    if not events or events[-1] != "[DONE]":
        raise AssertionError("the stream does not end with data: [DONE]")
    return [json.loads(e) for e in events[:-1]]


# ---- schema ----------------------------------------------------------------------------------------

Schema = Any  # None (null: any type) | "boolean" | "integer" | "number" | "string" | ("array", Schema) | Obj


@dataclass
class Obj:
    fields: dict[str, Schema]
    optional: set[str]


def schema(value: Any) -> Schema:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        merged: Schema = None
        for i, item in enumerate(value):
            merged = schema(item) if i == 0 else merge(merged, schema(item))
        return ("array", merged)
    if isinstance(value, dict):
        return Obj({k: schema(v) for k, v in value.items()}, set())
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def merge(a: Schema, b: Schema) -> Schema:
    """One schema for two values of the same field (array elements): the union, keys missing on one side optional."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, str) and isinstance(b, str) and {a, b} == {"integer", "number"}:
        return "number"
    if isinstance(a, tuple) and isinstance(b, tuple):
        return ("array", merge(a[1], b[1]))
    if isinstance(a, Obj) and isinstance(b, Obj):
        keys = a.fields.keys() | b.fields.keys()
        fields = {k: merge(a.fields.get(k), b.fields.get(k)) for k in sorted(keys)}
        optional = a.optional | b.optional | (keys - (a.fields.keys() & b.fields.keys()))
        return Obj(fields, optional)
    if a == b:
        return a
    return ("mixed", a, b)


def differences(recorded: Schema, live: Schema, path: str = "$") -> list[str]:
    """Where the live schema departs from the recorded one (empty: they agree)."""
    if recorded is None or live is None:
        return []
    if recorded == "number" and live == "integer":
        return []
    if isinstance(recorded, Obj) and isinstance(live, Obj):
        out = []
        for key in sorted(recorded.fields.keys() | live.fields.keys()):
            if key not in live.fields and key not in recorded.optional and key not in live.optional:
                out.append(f"{path}.{key}: recorded, missing from the live response")
            elif key not in recorded.fields and key not in live.optional and key not in recorded.optional:
                out.append(f"{path}.{key}: in the live response, missing from the fixture")
            elif key in recorded.fields and key in live.fields:
                out += differences(recorded.fields[key], live.fields[key], f"{path}.{key}")
        return out
    if isinstance(recorded, tuple) and isinstance(live, tuple) and recorded[0] == live[0] == "array":
        return differences(recorded[1], live[1], f"{path}[]")
    if recorded != live:
        return [f"{path}: recorded {describe(recorded)}, live {describe(live)}"]
    return []


def describe(s: Schema) -> str:
    if isinstance(s, Obj):
        return "object"
    if isinstance(s, tuple):
        return s[0]
    return str(s)
