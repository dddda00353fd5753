"""`kimi-student eval` and `kimi-student eval diff` through the console entry point."""

from __future__ import annotations

import json
from pathlib import Path

from kimi_student.cli import main
from tests.evaluation.conftest import GoldModel, write_subset
from tests.evaluation.fake_endpoint import FakeEndpoint, Reply


def test_eval_exit_codes_and_diff(tmp_path: Path, raw_rows, unique_rows, dataset_dir, capsys) -> None:
    header, _ = raw_rows
    rows = unique_rows[:30]
    data = write_subset(dataset_dir / "cli_subset.jsonl", header, rows)  # beside fixtures/: the default
    common = ["eval", "--in", str(data), "--concurrency", "2", "--max-tokens", "64"]
    with FakeEndpoint(GoldModel(rows)) as gold:
        assert main([*common, "--base-url", gold.url, "--out", str(tmp_path / "a.jsonl"),
                     "--report", str(tmp_path / "a.json")]) == 0
    with FakeEndpoint(lambda body: Reply("I cannot help with that.")) as silent:
        assert main([*common, "--base-url", silent.url, "--out", str(tmp_path / "b.jsonl"),
                     "--report", str(tmp_path / "b.json"), "--no-stream"]) == 1
    assert (tmp_path / "b.html").exists()
    capsys.readouterr()
    assert main(["eval", "diff", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["summary"]["tool_selection_accuracy"]["a"] == 1.0
    assert diff["summary"]["tool_selection_accuracy"]["delta"] < 0
    assert diff["gates_changed"]["tool_selection_accuracy"] == {"a": "PASS", "b": "FAIL"}


def test_eval_refuses_bad_arguments(tmp_path: Path, capsys) -> None:
    assert main(["eval", "--out", str(tmp_path / "o.jsonl"), "--report", str(tmp_path / "r.json")]) == 2
    assert main(["eval", "--runner", "local", "--in", "x", "--out", "o", "--report", "r"]) == 2
    assert "--checkpoint" in capsys.readouterr().err
