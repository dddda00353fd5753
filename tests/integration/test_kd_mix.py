"""`kimi-student data kd-mix`: local and HTTP teachers, the record format, resuming, bad teachers."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import httpx
import pytest

from kimi_student.cli import main
from modeling.tokenizer import KSTokenizer
from tests.kd_teacher import make_teacher
from training.data.jsonl import DataError
from training.data.kd_mix import build_kd_mix, kd_sequence, load_kd_mix, render_turn, split_turns
from training.sft_data import dataset_fingerprint, is_heldout


@pytest.fixture(scope="module")
def artifacts(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kd-artifacts")
    make_teacher(root / "teacher", dataset_dir / "tokenizer")
    return root


@pytest.fixture(scope="module")
def forced(dataset_dir: Path, artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kd") / "kd_mix.jsonl"
    rc = main(["data", "kd-mix", "--teacher", f"local:{artifacts / 'teacher'}", "--data",
               str(dataset_dir / "extracted.jsonl"), "--tokenizer", str(dataset_dir / "tokenizer"), "--out", str(out),
               "--limit", "12"])
    assert rc == 0
    return out


def by_id(records: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in records}


def assert_same_records(left: list[dict], right: list[dict], tol: float = 2e-4) -> None:
    """Equal records; logprobs to the stored precision (batch shapes change float rounding)."""
    a, b = by_id(left), by_id(right)
    assert a.keys() == b.keys() and len(a) == len(left) and len(b) == len(right)
    for key, rec in a.items():
        other = b[key]
        assert {k: v for k, v in rec.items() if k != "teacher_topk"} == \
            {k: v for k, v in other.items() if k != "teacher_topk"}
        assert rec["teacher_topk"]["ids"] == other["teacher_topk"]["ids"]  # the <|end|> row included
        for x, y in zip(rec["teacher_topk"]["logprobs"], other["teacher_topk"]["logprobs"], strict=True):
            assert max(abs(p - q) for p, q in zip(x, y, strict=True)) <= tol


def test_forced_mix_format(forced: Path, dataset_dir: Path, extracted_rows, tokenizer: KSTokenizer) -> None:
    header, records = load_kd_mix(forced, tokenizer)
    src_header, rows = extracted_rows
    assert header["mode"] == "token" and header["capture"] == "forced" and header["k"] == 20
    assert header["temperature"] == 1.0 and header["sampling_temperature"] is None
    assert header["teacher_tokenizer_sha256"] == header["student_tokenizer_sha256"] == tokenizer.sha256
    assert header["source"]["fingerprint"] == dataset_fingerprint(dataset_dir / "extracted.jsonl")
    assert header["tools"] == src_header["tools"]
    used = [r for r in rows if not is_heldout(r["id"], 0.1)][:12]
    expected = [t for r in used for t in split_turns(r, src_header["tools"], tokenizer)[1]]
    report = json.loads(forced.with_name(forced.name + ".report.json").read_text())
    assert report["items"]["ok"] == len(records)
    assert len(records) + report["items"]["failed"] == len(expected) and report["samples"]["used"] == 12
    rows_by_id = {r["id"]: r for r in rows}
    for rec in records:
        row = rows_by_id[rec["sample_id"]]
        assert rec["messages"] == row["messages"][:rec["turn"]]
        assert rec["teacher_text"] == render_turn(row["messages"][rec["turn"]])
        prompt, target = kd_sequence(rec, header, tokenizer)
        full = tokenizer.encode(row["prompt_text"] + row["teacher_text"])
        assert prompt + target == full[:len(prompt) + len(target)]  # the invariant the trainer relies on
        assert len(rec["teacher_topk"]["ids"]) == len(target)
        assert all(len(r) == 20 and r == sorted(r, reverse=True) for r in rec["teacher_topk"]["logprobs"])
        assert rec["finish_reason"] == ("tool_calls" if row["messages"][rec["turn"]].get("tool_calls") else "stop")
    assert any(rec["spans"]["tool_name"] for rec in records)


def test_heldout_samples_are_excluded_unless_asked(dataset_dir: Path, artifacts: Path, tmp_path: Path,
                                                   extracted_rows, forced: Path, tokenizer) -> None:
    _, records = load_kd_mix(forced, tokenizer)
    assert not any(is_heldout(r["sample_id"], 0.1) for r in records)
    _, rows = extracted_rows
    picked = passed = 0  # the report counts the held-out conversations passed over while picking --limit 12
    for r in rows:
        if picked == 12:
            break
        passed, picked = (passed + 1, picked) if is_heldout(r["id"], 0.1) else (passed, picked + 1)
    report = json.loads(forced.with_name(forced.name + ".report.json").read_text())
    assert passed and report["samples"] == {"used": 12, "heldout_excluded": passed, "include_heldout": False}
    first = [r["id"] for r in rows[:14]]
    held = {i for i in first if is_heldout(i, 0.1)}
    assert held
    report = build_kd_mix(f"local:{artifacts / 'teacher'}", dataset_dir / "extracted.jsonl", dataset_dir / "tokenizer",
                          tmp_path / "all.jsonl", include_heldout=True, limit=14)
    _, records = load_kd_mix(tmp_path / "all.jsonl", tokenizer)
    assert held <= {r["sample_id"] for r in records} and report["samples"]["heldout_excluded"] == 0


def test_resume_skips_written_records_and_drops_a_torn_line(dataset_dir: Path, artifacts: Path, tmp_path: Path,
                                                            forced: Path, tokenizer) -> None:
    teacher, data = f"local:{artifacts / 'teacher'}", dataset_dir / "extracted.jsonl"
    tok_dir = dataset_dir / "tokenizer"
    out = tmp_path / "kd.jsonl"
    first = build_kd_mix(teacher, data, tok_dir, out, limit=5)
    with out.open("a") as f:
        f.write('{"id": "torn-by-a-kill", "teacher_te')
    second = build_kd_mix(teacher, data, tok_dir, out, limit=12)
    assert second["items"]["resumed"] == first["items"]["ok"] > 0
    assert second["items"]["ok"] + second["items"]["resumed"] == first["items"]["ok"] + second["items"]["ok"]
    _, resumed = load_kd_mix(out, tokenizer)
    _, fresh = load_kd_mix(forced, tokenizer)
    assert_same_records(resumed, fresh)  # the records of the uninterrupted run, none twice
    with pytest.raises(DataError, match="k=20"):
        build_kd_mix(teacher, data, tok_dir, out, k=5, limit=12)


def test_truncated_turns_are_counted_and_excluded(dataset_dir: Path, artifacts: Path, tmp_path: Path,
                                                  tokenizer) -> None:
    report = build_kd_mix(f"local:{artifacts / 'teacher'}", dataset_dir / "extracted.jsonl",
                          dataset_dir / "tokenizer", tmp_path / "gen.jsonl", capture="generated", limit=6,
                          max_tokens=1, sampling_temperature=0)
    items = report["items"]
    assert items["truncated"] > 0 and items["ok"] + items["truncated"] + items["empty"] + items["malformed"] + \
        items["failed"] == items["total"]
    _, records = load_kd_mix(tmp_path / "gen.jsonl", tokenizer)
    assert len(records) == items["ok"]
    assert all(len(tokenizer.encode(r["teacher_text"])) <= 2 for r in records)  # one token + <|end|>


def test_keep_all_stores_every_turn_as_written_for_a_drafter(dataset_dir: Path, artifacts: Path, tmp_path: Path,
                                                              tokenizer) -> None:
    """On-policy drafter data: cut-off turns are kept (finish_reason length, no <|end|>) with a top-k row
    per token; only a keep_all file may hold them; max_len skips turns that start past the window."""
    out = tmp_path / "drafter.jsonl"
    report = build_kd_mix(f"local:{artifacts / 'teacher'}", dataset_dir / "extracted.jsonl",
                          dataset_dir / "tokenizer", out, capture="generated", limit=6, max_tokens=1,
                          sampling_temperature=0, keep_all=True, max_len=400)
    items = report["items"]
    assert items["truncated"] == items["malformed"] == items["empty"] == 0 and items["beyond_max_len"] > 0
    header, records = load_kd_mix(out, tokenizer)
    assert header["keep_all"] and len(records) == items["ok"] == items["total"]
    cut = [r for r in records if r["finish_reason"] == "length"]
    assert cut and all(not r["teacher_text"].endswith("<|end|>") for r in cut)
    for r in records:
        assert len(r["teacher_topk"]["ids"]) == len(tokenizer.encode(r["teacher_text"])) <= 2
    lines = out.read_text().splitlines()
    plain = tmp_path / "plain.jsonl"  # the same cut-off record in a mix that does not keep all: refused
    plain.write_text("\n".join([json.dumps({k: v for k, v in json.loads(lines[0]).items() if k != "keep_all"}),
                                json.dumps(cut[0])]) + "\n")
    with pytest.raises(DataError, match="ending with <\\|end\\|>"):
        load_kd_mix(plain, tokenizer)
    with pytest.raises(DataError, match="keep_all"):
        build_kd_mix(f"local:{artifacts / 'teacher'}", dataset_dir / "extracted.jsonl", dataset_dir / "tokenizer",
                     tmp_path / "forced.jsonl", capture="forced", keep_all=True)


def test_http_teacher_on_the_service_matches_the_local_teacher(dataset_dir: Path, artifacts: Path, tmp_path: Path,
                                                               tokenizer) -> None:
    """The generation service serving the teacher artifact on loopback gives the same kd_mix as the
    local teacher: same greedy turns, same top-k ids, logprobs equal to the stored precision."""
    from tests.service.conftest import serve

    data, tok_dir = dataset_dir / "extracted.jsonl", dataset_dir / "tokenizer"
    common = {"capture": "generated", "sampling_temperature": 0.0, "limit": 6, "max_tokens": 16}
    with serve(artifacts, models=["teacher"], speculative="off") as live:
        http = build_kd_mix(live.url, data, tok_dir, tmp_path / "http.jsonl", cache=tmp_path / "cache", **common)
        again = build_kd_mix(live.url, data, tok_dir, tmp_path / "http2.jsonl", cache=tmp_path / "cache", **common)
    local = build_kd_mix(f"local:{artifacts / 'teacher'}", data, tok_dir, tmp_path / "local.jsonl", **common)
    h_http, r_http = load_kd_mix(tmp_path / "http.jsonl", tokenizer)
    h_local, r_local = load_kd_mix(tmp_path / "local.jsonl", tokenizer)
    assert h_http["teacher"].startswith("http://127.0.0.1:") and h_http["teacher"].endswith("/v1#teacher")
    assert {k: v for k, v in h_http.items() if k != "teacher"} == {k: v for k, v in h_local.items() if k != "teacher"}
    assert h_http["mode"] == "token" and http["sequence_fallback"]["count"] == 0
    assert http["items"]["ok"] == local["items"]["ok"] >= 5
    assert_same_records(r_http, r_local)
    usage = again["teacher_usage"]
    assert usage["requests"] == 0 and usage["cache_hits"] == http["teacher_usage"]["requests"] > 0


# ---- a misbehaving teacher (httpx.MockTransport) --------------------------------------------------


def key(messages: list[dict]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()


def mock_teacher(tokenizer: KSTokenizer, tokenizer_sha: str, calls: list[int], plan: dict[str, int]
                 ) -> httpx.MockTransport:
    """Per turn, as `plan` says for its messages: 0 always 429, 1 malformed JSON, 2 empty answer, 3 cut at
    max_tokens, 4 a 500 then a good answer, 5 a good answer whose logprobs lack the end token."""

    def logprobs(text: str, with_end: bool) -> list[dict]:
        ids = tokenizer.encode(text)
        ids = ids if with_end else ids[:-1]
        entry = lambda i, lp: {"token": "x", "bytes": list(tokenizer.token_bytes[i]), "logprob": lp}  # noqa: E731
        return [{**entry(i, -0.5), "top_logprobs": [entry((i + r) % tokenizer.vocab_size, -0.5 - r / 10)
                                                    for r in range(20)]} for i in ids]

    attempts: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"data": [{"id": "teacher", "tokenizer_sha256": tokenizer_sha}]})
        body = json.loads(request.content)
        item = key(body["messages"])
        kind = plan[item]
        calls.append(kind)
        attempts[item] = attempts.get(item, 0) + 1
        if kind == 0:
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {"message": "slow down"}})
        if kind == 1:
            return httpx.Response(200, content=b'{"choices": [')
        if kind == 4 and attempts[item] == 1:
            return httpx.Response(500, json={"error": {"message": "boom"}})
        content = {2: "", 3: "I was cut"}.get(kind, "Done.")
        choice = {"index": 0, "message": {"role": "assistant", "content": content},
                  "finish_reason": "length" if kind == 3 else "stop"}
        if body.get("logprobs"):
            choice["logprobs"] = {"content": logprobs(content + "<|end|>", with_end=kind != 5)}
        return httpx.Response(200, json={"choices": [choice], "usage": {"prompt_tokens": 10, "completion_tokens": 3}})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("same_tokenizer", [True, False])
def test_bad_teacher_answers_are_reported_per_item(same_tokenizer: bool, dataset_dir: Path, tmp_path: Path,
                                                   extracted_rows, tokenizer: KSTokenizer) -> None:
    header, rows = extracted_rows
    used = [r for r in rows if not is_heldout(r["id"], 0.1)][:10]
    turns = [t for r in used for t in split_turns(r, header["tools"], tokenizer)[1]]
    kinds = [i % 6 for i in range(len(turns))]
    plan = {key(t.history): k for t, k in zip(turns, kinds, strict=True)}
    assert len(plan) == len(turns) >= 12
    calls: list[int] = []
    sha = tokenizer.sha256 if same_tokenizer else "0" * 64
    out = tmp_path / "kd.jsonl"
    report = build_kd_mix("http://teacher.test", dataset_dir / "extracted.jsonl", dataset_dir / "tokenizer", out,
                          limit=10, max_retries=2, concurrency=3, transport=mock_teacher(tokenizer, sha, calls, plan))
    items = report["items"]
    assert items["failed"] == kinds.count(0) and report["reasons"]["failed:http_429"] == kinds.count(0)
    assert calls.count(0) == 3 * kinds.count(0)  # first try + 2 retries each
    assert calls.count(4) == 2 * kinds.count(4)  # a 500, then the retry succeeds
    assert items["malformed"] == kinds.count(1) and items["empty"] == kinds.count(2)
    assert items["truncated"] == kinds.count(3) and items["ok"] == kinds.count(4) + kinds.count(5)
    assert len(report["failures"]) == len(turns) - items["ok"]
    h, records = load_kd_mix(out, tokenizer)
    assert {r["id"] for r in records} == {t.id for t, k in zip(turns, kinds, strict=True) if k in (4, 5)}
    assert all(r["teacher_text"] == "Done.<|end|>" for r in records)
    if same_tokenizer:
        assert h["mode"] == "token" and report["sequence_fallback"] == {"count": kinds.count(5),
                                                                       "reasons": {"no_end_logprob": kinds.count(5)}}
        with_topk = {t.id for t, k in zip(turns, kinds, strict=True) if k == 4}
        assert {r["id"] for r in records if r["teacher_topk"]} == with_topk
    else:
        assert h["mode"] == "sequence" and h["k"] == 0 and all(r["teacher_topk"] is None for r in records)
        assert any("token-level KD refused" in w for w in report["warnings"])


def test_other_tokenizer_gives_sequence_level_kd(dataset_dir: Path, tmp_path: Path, tokenizer) -> None:
    """A local teacher with another tokenizer: forced capture is refused, generated is sequence-level."""
    other = tmp_path / "other-tokenizer"
    shutil.copytree(dataset_dir / "tokenizer", other)
    data = json.loads((other / "tokenizer.json").read_text())
    (other / "tokenizer.json").write_text(json.dumps(data, indent=1))  # same vocabulary, another file and sha256
    teacher = make_teacher(tmp_path / "teacher", other)
    args = (f"local:{teacher}", dataset_dir / "extracted.jsonl", dataset_dir / "tokenizer")
    with pytest.raises(DataError, match="capture generated"):
        build_kd_mix(*args, tmp_path / "forced.jsonl", capture="forced", limit=2)
    report = build_kd_mix(*args, tmp_path / "seq.jsonl", limit=2, max_tokens=8, sampling_temperature=0)
    header, records = load_kd_mix(tmp_path / "seq.jsonl", tokenizer)
    assert header["mode"] == "sequence" and header["capture"] == "generated" and report["warnings"]
    assert all(r["teacher_topk"] is None for r in records)


def test_load_kd_mix_rejects_bad_files(forced: Path, tmp_path: Path, tokenizer) -> None:
    lines = forced.read_text().splitlines()
    header, first = json.loads(lines[0]), json.loads(lines[1])

    def write(head: dict, *records: dict) -> Path:
        path = tmp_path / f"bad{len(list(tmp_path.iterdir()))}.jsonl"
        path.write_text("\n".join(json.dumps(x) for x in (head, *records)) + "\n")
        return path

    short = {**first, "teacher_topk": {"ids": first["teacher_topk"]["ids"][:-1],
                                       "logprobs": first["teacher_topk"]["logprobs"][:-1]}}
    cases = [
        (write(header, short), "one row per teacher_text token"),
        (write(header, first, first), "duplicate record id"),
        (write(header, {**first, "teacher_text": "no end"}), "ending with <|end|>"),
        (write(header, {**first, "spans": {"tool_name": [[0, 10_000]]}}), "spans.tool_name"),
        (write(header, {**first, "id": "other#1"}), "sample_id"),
        (write({**header, "student_tokenizer_sha256": "0" * 64}, first), "student tokenizer"),
        (write({**header, "mode": "sequence"}, first), "sequence-mode"),
    ]
    for path, message in cases:
        with pytest.raises(DataError, match=message):
            load_kd_mix(path, tokenizer)
    assert load_kd_mix(write(header, first), tokenizer)[1] == [first]
