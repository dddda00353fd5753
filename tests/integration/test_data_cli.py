"""The dataset pipeline through the `kimi-student` CLI, as `make contextual-pipeline` runs it."""

import json
from pathlib import Path

import pytest

from kimi_student.cli import main
from training.data.fixtures import FixtureSet, load_fixture_file
from training.data.jsonl import DataError
from training.data.tools import default_registry


def _run(*argv: str) -> int:
    return main(list(argv))


def test_pipeline_gen_tokenizer_extract_verify(tmp_path: Path, capsys):
    raw, ext, tok, rep = tmp_path / "c.jsonl", tmp_path / "x.jsonl", tmp_path / "tok", tmp_path / "r.json"
    assert _run("data", "gen", "--out", str(raw), "--total", "150", "--seed", "5") == 0
    assert _run("tokenizer", "train", "--in", str(raw), "--out", str(tok), "--profile", "tiny") == 0
    assert {p.name for p in tok.iterdir()} >= {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}
    assert _run("data", "extract", "--in", str(raw), "--out", str(ext), "--tokenizer", str(tok)) == 0
    assert _run("data", "verify", "--in", str(ext), "--report", str(rep)) == 0
    out = capsys.readouterr().out
    assert "PASS         token_align_ok_rate" in out and "FAIL" not in out
    assert json.loads(rep.read_text())["summary"]["n"] == 150


def test_sharded_generation_merges_into_the_unsharded_file(tmp_path: Path):
    assert _run("data", "gen", "--out", str(tmp_path / "full.jsonl"), "--total", "60", "--seed", "9",
                "--fixtures", str(tmp_path / "fx_full")) == 0
    shards = []
    for k in range(3):
        shards.append(tmp_path / f"s{k}.jsonl")
        assert _run("data", "gen", "--out", str(shards[-1]), "--total", "60", "--seed", "9", "--num-shards", "3",
                    "--shard-index", str(k), "--fixtures", str(tmp_path / "fx_shards")) == 0
    assert _run("data", "merge", "--out", str(tmp_path / "merged.jsonl"), *map(str, shards)) == 0
    assert (tmp_path / "merged.jsonl").read_bytes() == (tmp_path / "full.jsonl").read_bytes()
    for f in (tmp_path / "fx_full").glob("*.jsonl"):
        assert f.read_bytes() == (tmp_path / "fx_shards" / f.name).read_bytes()


def test_merge_refuses_incomplete_or_mixed_shards(tmp_path: Path, capsys):
    for k in range(2):
        _run("data", "gen", "--out", str(tmp_path / f"s{k}.jsonl"), "--total", "30", "--num-shards", "2",
             "--shard-index", str(k))
    _run("data", "gen", "--out", str(tmp_path / "other.jsonl"), "--total", "30", "--seed", "1",
         "--num-shards", "2", "--shard-index", "1")
    assert _run("data", "merge", "--out", str(tmp_path / "m.jsonl"), str(tmp_path / "s0.jsonl")) == 2
    assert "do not cover" in capsys.readouterr().err
    assert _run("data", "merge", "--out", str(tmp_path / "m.jsonl"), str(tmp_path / "s0.jsonl"),
                str(tmp_path / "other.jsonl")) == 2
    assert "header field 'seed'" in capsys.readouterr().err
    assert not (tmp_path / "m.jsonl").exists()


def test_fixtures_hold_every_call_and_replay_its_result(tmp_path: Path):
    _run("data", "gen", "--out", str(tmp_path / "c.jsonl"), "--total", "80")
    reg = default_registry()
    fixtures = {p.stem: load_fixture_file(p) for p in (tmp_path / "fixtures").glob("*.jsonl")}
    rows = [json.loads(x) for x in (tmp_path / "c.jsonl").read_text().splitlines()[1:]]
    calls = [a for r in rows for a in r["metadata"]["attempts"]]
    assert calls
    for a in calls:
        name, _ = reg.normalize(a["call"]["name"], a["call"]["arguments"])
        assert fixtures[name][reg.fixture_key(name, a["call"]["arguments"])] == a["result"]


def test_fixture_conflicts_are_refused(tmp_path: Path):
    fx = FixtureSet(default_registry())
    fx.add("web.open", {"url": "https://example.org/a"}, {"ok": True, "text": "one"})
    fx.merge_into(tmp_path)
    other = FixtureSet(default_registry())
    other.add("web.open", {"url": "https://example.org/a"}, {"ok": True, "text": "two"})
    with pytest.raises(DataError, match="differs"):
        other.merge_into(tmp_path)
    assert load_fixture_file(tmp_path / "web.open.jsonl") == {'{"url":"https://example.org/a"}': {"ok": True,
                                                                                                "text": "one"}}


def test_cli_errors_are_one_line_with_exit_2(tmp_path: Path, capsys):
    assert _run("data", "extract", "--in", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl")) == 2
    err = capsys.readouterr().err
    assert err.startswith("kimi-student: error:") and "nope.jsonl: no such file" in err
    assert _run("data", "gen", "--out", str(tmp_path / "o.jsonl"), "--total", "10", "--num-shards", "2",
                "--shard-index", "2") == 2
    assert "--shard-index" in capsys.readouterr().err
