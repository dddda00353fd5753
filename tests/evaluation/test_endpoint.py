"""The harness against a scripted OpenAI-compatible endpoint (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evaluation.harness import EvalConfig, run
from evaluation.runners.base import Decoding
from evaluation.runners.openai_http import OpenAIHTTPRunner
from evaluation.scoring.answers import integration_scores
from tests.evaluation.conftest import GoldModel, gold_replies, write_subset
from tests.evaluation.fake_endpoint import FakeEndpoint, Reply
from training.data.tools import default_registry

REG = default_registry()


def evaluate(tmp: Path, data: Path, fixtures: Path, model: Any, name: str = "run", *, retries: int = 2,
             waits: list[float] | None = None, concurrency: int = 3, **cfg: Any) -> tuple[dict, list[dict]]:
    with FakeEndpoint(model) as endpoint:
        runner = OpenAIHTTPRunner(endpoint.url, "fake", retries=retries,
                                  sleep=(waits.append if waits is not None else lambda s: None))
        config = EvalConfig(input=data, out=tmp / f"{name}.jsonl", report=tmp / f"{name}.json", fixtures=fixtures,
                            html=tmp / f"{name}.html", concurrency=concurrency, **cfg)
        report = run(config, runner, REG)
        runner.close()
    return report, [json.loads(line) for line in config.out.read_text().splitlines()]


def _single_call_items(rows: list[dict]) -> list[dict]:
    """Normal single-call items whose gold answer, split into claims, is fully grounded."""
    out = []
    for r in rows:
        m = r["metadata"]
        if m["kind"] != "normal" or m["complexity"] != "single_call" or len(m["call_sequence"]) != 1:
            continue
        results = [json.loads(x["content"]) for x in r["messages"] if x["role"] == "tool"]
        if results[0].get("ok") and integration_scores(r["messages"][-1]["content"], results, m["lang"])["f1_lax"] == 1:
            out.append(r)
    return out


def _first(rows: list[dict], behaviour: str) -> dict:
    return next(r for r in rows if r["metadata"]["expected_behaviour"] == behaviour)


def test_wrong_answers_give_exactly_the_expected_scores(tmp_path: Path, raw_rows, unique_rows, dataset_dir) -> None:
    """Eleven items, each answered right or wrong in one known way."""
    header, _ = raw_rows
    t = _single_call_items(unique_rows)[:7]
    controls = [_first(unique_rows, b) for b in ("no_tool", "decline", "ask_clarify", "report_failure")]
    gold = {r["id"]: gold_replies(r) for r in t}
    (name0, args0) = gold[t[0]["id"]][0].tool_calls[0]

    def call(i: int, name: str | None = None, args: str | None = None) -> list[Reply]:
        n, a = gold[t[i]["id"]][0].tool_calls[0]
        return [Reply("", [(name or n, args if args is not None else a)]), gold[t[i]["id"]][-1]]

    n1 = gold[t[1]["id"]][0].tool_calls[0][0]
    n4, a4 = gold[t[4]["id"]][0].tool_calls[0]
    alias = n4.replace(".", "_") if "." in n4 else n4.replace("_", ".")
    reordered = json.dumps(dict(reversed(list(json.loads(a4).items()))))
    overrides = {
        t[1]["id"]: call(1, name="web.open" if n1 != "web.open" else "read_file"),  # wrong tool: a miss
        t[2]["id"]: call(2, args=gold[t[2]["id"]][0].tool_calls[0][1][:-1]),  # malformed JSON
        t[3]["id"]: call(3, args=json.dumps({**json.loads(gold[t[3]["id"]][0].tool_calls[0][1]), "zzz": 1})),
        t[4]["id"]: call(4, name=alias, args=reordered),  # same call, other spelling: a hit
        t[5]["id"]: [gold[t[5]["id"]][0], Reply("The answer is 987654321.")],  # ungrounded claim
        t[6]["id"]: lambda turn: Reply(status=500, headers={"Retry-After": "0"}),  # endpoint error
        controls[0]["id"]: [Reply("", [(name0, args0)]), gold[t[0]["id"]][-1]],  # a call on a no-tool control
        controls[2]["id"]: [Reply("Here are the results.")],  # no clarifying question
    }
    data = write_subset(tmp_path / "subset.jsonl", header, t + controls)
    waits: list[float] = []
    report, records = evaluate(tmp_path, data, dataset_dir / "fixtures", GoldModel(t + controls, overrides),
                               waits=waits)
    s = report["summary"]
    assert (s["total"], s["scored"], s["item_errors"]) == (11, 10, 1)
    assert waits == [0.0, 0.0]  # two retries, Retry-After honoured
    assert s["tool_selection_accuracy"] == 0.8
    assert s["json_validity_rate"] == 0.875
    assert (s["fixture_lookups"], s["fixture_hit_rate"]) == (7, 0.7143)
    assert s["args_ast_accuracy"] == 0.5714
    assert s["multi_call_parity_rate"] == 0.8571
    assert (s["integration_eligible"], s["integration_f1_macro_lax"]) == (6, 0.3333)
    assert s["controls_with_integration"] == 1
    assert s["behaviour_ok_rate"] == {"ask_clarify": 0.0, "decline": 1.0, "no_tool": 0.0, "report_failure": 1.0}
    assert s["controls_ok_rate"] == 0.3333 and s["negative_control_ok_rate"] == 1.0
    status = {g["gate"]: g["status"] for g in report["gates"]}
    assert status == {"tool_selection_accuracy": "FAIL", "json_validity_rate": "FAIL",
                      "integration_f1_macro_lax": "INCONCLUSIVE", "fixture_hit_rate": "FAIL",
                      "controls_with_integration": "FAIL", "item_errors": "FAIL"}
    by_id = {r["id"]: r for r in records}
    assert [r["id"] for r in records] == [r["id"] for r in t + controls]  # input order
    assert by_id[t[1]["id"]]["calls"][0]["result"] == "fixture_miss"
    assert by_id[t[2]["id"]]["calls"][0]["result"] == "invalid_arguments"
    assert by_id[t[4]["id"]]["calls"][0]["fixture_hit"] is True
    assert "gave up after 3 attempts: HTTP 500" in by_id[t[6]["id"]]["error"]
    assert report["speed"]["requests"] > 0 and report["speed"]["ttft_s_p50"] is not None
    assert (tmp_path / "run.html").read_text().count("data:image/png;base64,") >= 2


def test_gold_replay_scores_perfectly_and_is_deterministic(tmp_path: Path, raw_rows, unique_rows,
                                                           dataset_dir) -> None:
    """The gold trajectory is the ceiling; two runs write byte-identical results."""
    header, _ = raw_rows
    data = write_subset(tmp_path / "unique.jsonl", header, unique_rows)
    model = GoldModel(unique_rows)
    report, _ = evaluate(tmp_path, data, dataset_dir / "fixtures", model, "a", concurrency=4,
                         decoding=Decoding(0.0, 7, 128))
    evaluate(tmp_path, data, dataset_dir / "fixtures", model, "b", concurrency=2, decoding=Decoding(0.0, 7, 128))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    s = report["summary"]
    for key in ("tool_selection_accuracy", "args_ast_accuracy", "args_exact_accuracy", "json_validity_rate",
                "schema_validity_rate", "multi_call_parity_rate", "fixture_hit_rate", "controls_ok_rate",
                "negative_control_ok_rate", "privacy_ok_rate", "finished_rate"):
        assert s[key] == 1.0, key
    assert s["controls_with_integration"] == 0 and s["item_errors"] == 0
    assert set(s["behaviour_ok_rate"]) == {"ask_clarify", "decline", "no_tool", "report_failure", "retry"}
    assert all(v == 1.0 for v in s["behaviour_ok_rate"].values())
    assert s["integration_f1_macro_lax"] >= 0.9
    assert report["gates_ok"]


def test_shards_partition_the_run(tmp_path: Path, raw_rows, unique_rows, dataset_dir) -> None:
    header, _ = raw_rows
    data = write_subset(tmp_path / "some.jsonl", header, unique_rows[:40])
    model = GoldModel(unique_rows[:40])
    _, full = evaluate(tmp_path, data, dataset_dir / "fixtures", model, "full")
    shards = [evaluate(tmp_path, data, dataset_dir / "fixtures", model, f"s{i}", num_shards=3, shard_index=i)[1]
              for i in range(3)]
    ids = [r["id"] for shard in shards for r in shard]
    assert len(ids) == len(set(ids)) and all(shards)
    assert sorted(ids) == sorted(r["id"] for r in full)
    by_id = {r["id"]: r for r in full}
    assert all(r == by_id[r["id"]] for shard in shards for r in shard)


@pytest.mark.parametrize("tools", ["all", "registry"])
def test_model_sees_every_tool_and_its_own_results(tmp_path: Path, raw_rows, unique_rows, dataset_dir,
                                                   tools: str) -> None:
    """Every request carries the whole tool list; a second turn carries the first turn's call and result."""
    header, _ = raw_rows
    row = next(r for r in unique_rows if r["metadata"]["complexity"] == "single_call")
    data = write_subset(tmp_path / "one.jsonl", header, [row])
    gold = GoldModel([row])
    bodies: list[dict] = []

    def record(body: dict) -> Reply:
        bodies.append(body)
        return gold(body)

    evaluate(tmp_path, data, dataset_dir / "fixtures", record, tools=tools)
    names = sorted(REG.tools)
    assert len(bodies) == 2 and all(sorted(t["function"]["name"] for t in b["tools"]) == names for b in bodies)
    assistant, result = bodies[1]["messages"][-2:]
    call = row["messages"][2]["tool_calls"][0]
    assert assistant["tool_calls"][0]["function"] == call["function"]
    assert result["role"] == "tool" and result["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert result["content"] == row["messages"][3]["content"]  # the fixture replays the gold result exactly
