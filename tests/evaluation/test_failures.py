"""Bad input: an endpoint that is down or rate-limits, and malformed model output, never crash a run."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from evaluation.harness import EvalConfig, run
from evaluation.runners.base import Decoding, RunnerError
from evaluation.runners.openai_http import OpenAIHTTPRunner
from tests.evaluation.conftest import write_subset
from tests.evaluation.fake_endpoint import FakeEndpoint, Reply
from training.data.tools import default_registry

PROMPT = [{"role": "user", "content": "hi"}]


def test_backoff_honours_retry_after() -> None:
    """429 with Retry-After 1.5 -> wait 1.5; 503 without it -> exponential backoff (0.5 * 2); then success."""
    replies = iter([Reply(status=429, headers={"Retry-After": "1.5"}), Reply(status=503), Reply("hello")])
    waits: list[float] = []
    with FakeEndpoint(lambda body: next(replies)) as endpoint:
        runner = OpenAIHTTPRunner(endpoint.url, "m", retries=3, sleep=waits.append)
        turn = runner.turn(PROMPT, [], Decoding())
    assert (turn.content, turn.attempts, waits) == ("hello", 3, [1.5, 1.0])


def test_client_errors_are_not_retried() -> None:
    with FakeEndpoint(lambda body: Reply(status=400)) as endpoint:
        runner = OpenAIHTTPRunner(endpoint.url, "m", retries=3, sleep=lambda s: None)
        with pytest.raises(RunnerError, match="HTTP 400"):
            runner.turn(PROMPT, [], Decoding())
        assert endpoint.requests == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_endpoint_down_gives_per_item_errors(tmp_path: Path, raw_rows, dataset_dir) -> None:
    header, rows = raw_rows
    data = write_subset(tmp_path / "five.jsonl", header, rows[:5])
    waits: list[float] = []
    runner = OpenAIHTTPRunner(f"http://127.0.0.1:{_closed_port()}/v1", "m", retries=2, sleep=waits.append)
    cfg = EvalConfig(input=data, out=tmp_path / "r.jsonl", report=tmp_path / "r.json",
                     fixtures=dataset_dir / "fixtures")
    report = run(cfg, runner, default_registry())
    records = [json.loads(x) for x in cfg.out.read_text().splitlines()]
    assert report["summary"]["item_errors"] == 5 and not report["gates_ok"]
    assert all("ConnectError" in r["error"] for r in records)
    assert waits == [0.5, 1.0] * 5


@pytest.mark.parametrize("reply, stream", [
    (Reply(raw=b"this is not json"), False),
    (Reply(raw=b'{"choices": []}'), False),
    (Reply(raw=b"data: {not json\n\n"), True),
    (Reply(raw=b'data: {"error": {"message": "boom"}}\n\n'), True),
])
def test_unreadable_responses_are_item_errors(tmp_path: Path, raw_rows, dataset_dir, reply: Reply,
                                              stream: bool) -> None:
    header, rows = raw_rows
    data = write_subset(tmp_path / "one.jsonl", header, rows[:1])
    with FakeEndpoint(lambda body: reply) as endpoint:
        runner = OpenAIHTTPRunner(endpoint.url, "m", stream=stream, sleep=lambda s: None)
        cfg = EvalConfig(input=data, out=tmp_path / "r.jsonl", report=tmp_path / "r.json",
                         fixtures=dataset_dir / "fixtures")
        report = run(cfg, runner, default_registry())
    assert report["summary"]["item_errors"] == 1


@pytest.mark.parametrize("calls", [
    [("", "")],
    [("web.search", "{{{")],
    [("<|tool_call|>", '{"q": 1}')],
    [("web.search", '"just a string"'), ("read_file", "null")],
])
def test_malformed_model_output_is_scored_invalid(tmp_path: Path, raw_rows, dataset_dir, calls) -> None:
    header, rows = raw_rows
    row = next(r for r in rows if r["metadata"]["expected_behaviour"] == "tool_use")
    data = write_subset(tmp_path / "one.jsonl", header, [row])
    with FakeEndpoint(lambda body: Reply("<|tool_args|>\x00 garbage", calls)) as endpoint:
        runner = OpenAIHTTPRunner(endpoint.url, "m", sleep=lambda s: None)
        cfg = EvalConfig(input=data, out=tmp_path / "r.jsonl", report=tmp_path / "r.json",
                         fixtures=dataset_dir / "fixtures", max_turns=2)
        report = run(cfg, runner, default_registry())
    s = report["summary"]
    assert s["item_errors"] == 0 and s["scored"] == 1
    assert s["tool_selection_accuracy"] == 0.0 and s["args_ast_accuracy"] == 0.0 and s["finished_rate"] == 0.0
    assert s["schema_validity_rate"] == 0.0 and s["fixture_hit_rate"] in (0.0, None)


def test_a_file_that_is_not_a_dataset_is_refused(tmp_path: Path, capsys) -> None:
    from kimi_student.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"__header__": true}\n{"id": "x"}\n')
    assert main(["eval", "--in", str(bad), "--out", str(tmp_path / "o"), "--report", str(tmp_path / "r")]) == 2
    assert "bad.jsonl:2: not a contextual sample" in capsys.readouterr().err
