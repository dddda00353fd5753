"""Extraction: byte and token spans land exactly on tool names, arguments and integration claims."""

import json

import pytest

from training.data import extract
from training.data.jsonl import DataError


def _slices(row, kind):
    data = row["teacher_text"].encode("utf-8")
    return [data[s:e].decode("utf-8") for s, e in row["metadata"]["spans"][kind]["bytes"]]


def test_spans_slice_names_arguments_and_claims(extracted_rows):
    header, rows = extracted_rows
    assert header["extracted"] and header["tokenizer_sha256"]
    for r in rows:
        meta = r["metadata"]
        calls = meta["call_sequence"]
        assert _slices(r, "tool_name") == [c["name"] for c in calls]
        assert [json.loads(s) for s in _slices(r, "json_args")] == [c["arguments"] for c in calls]
        assert _slices(r, "integration") == meta["integration_claims"]
        assert [json.loads(s) for s in _slices(r, "tool_result")] == [a["result"] for a in meta["attempts"]]


def test_byte_offsets_are_bytes_not_characters(extracted_rows):
    multibyte = [r for r in extracted_rows[1] if len(r["teacher_text"]) != len(r["teacher_text"].encode())]
    assert multibyte, "the multilingual items must contain non-ASCII text"
    for r in multibyte:
        assert _slices(r, "integration") == r["metadata"]["integration_claims"]


def test_token_spans_decode_to_the_span_text(extracted_rows, tokenizer):
    for r in extracted_rows[1]:
        ids = tokenizer.encode(r["teacher_text"])
        spans = r["metadata"]["spans"]
        for kind in ("tool_name", "json_args", "integration"):
            for text, (ts, te) in zip(_slices(r, kind), spans[kind]["tokens"], strict=True):
                assert tokenizer.decode(ids[ts:te]).strip() == text.strip()


def test_teacher_tokens_are_the_tail_of_the_full_sequence(extracted_rows, tokenizer):
    for r in extracted_rows[1][:40]:
        full = tokenizer.encode(r["prompt_text"] + r["teacher_text"])
        n = r["metadata"]["num_tokens"]
        assert full[n["prompt"]:] == tokenizer.encode(r["teacher_text"]) and len(full) == n["prompt"] + n["teacher"]


def test_a_missing_claim_is_an_error_naming_the_claim():
    with pytest.raises(ValueError, match="not found"):
        extract.byte_spans("<|assistant|>The answer is 4.", ["The answer is 5"])


def test_corrupt_line_names_the_line_and_leaves_no_output(dataset_dir, tmp_path):
    lines = (dataset_dir / "raw.jsonl").read_text().splitlines()
    lines[5] = lines[5][:-10]  # truncated JSON
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(DataError, match=r"bad\.jsonl:6: malformed JSON"):
        extract.run(bad, out, dataset_dir / "tokenizer")
    assert not out.exists() and not list(tmp_path.glob(".out.jsonl*"))


def test_missing_header_and_missing_fields_are_named(dataset_dir, tmp_path):
    lines = (dataset_dir / "raw.jsonl").read_text().splitlines()
    headless = tmp_path / "headless.jsonl"
    headless.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(DataError, match="missing header"):
        extract.run(headless, tmp_path / "o.jsonl", dataset_dir / "tokenizer")
    row = json.loads(lines[3])
    del row["teacher_text"]
    lines[3] = json.dumps(row)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"broken\.jsonl:4: sample lacks field 'teacher_text'"):
        extract.run(broken, tmp_path / "o.jsonl", dataset_dir / "tokenizer")


def test_registry_mismatch_is_refused(dataset_dir, tmp_path):
    lines = (dataset_dir / "raw.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    header["tool_registry_sha256"] = "0" * 64
    lines[0] = json.dumps(header)
    stale = tmp_path / "stale.jsonl"
    stale.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="tool_registry_sha256"):
        extract.run(stale, tmp_path / "o.jsonl", dataset_dir / "tokenizer")
