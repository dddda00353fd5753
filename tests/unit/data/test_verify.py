"""Verification: our own data passes every hard gate; each kind of defect is caught and named."""

import json
from pathlib import Path

import pytest

from training.data import gates
from training.data.jsonl import DataError


def _write(path: Path, header: dict, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(x) for x in [header, *rows]) + "\n")
    return path


def _verify(tmp_path, header, rows):
    report, code = gates.run(_write(tmp_path / "in.jsonl", header, rows), tmp_path / "report.json")
    return report, code, {g["gate"]: g for g in report["gates"]}


def _copy(extracted_rows):
    header, rows = extracted_rows
    return json.loads(json.dumps(header)), json.loads(json.dumps(rows))


def test_generated_data_passes_all_hard_gates(dataset_dir, tmp_path):
    report, code = gates.run(dataset_dir / "extracted.jsonl", tmp_path / "r.json")
    assert code == 0, [g for g in report["gates"] if g["status"] == "FAIL"]
    s = report["summary"]
    assert s["token_align_ok_rate"] >= 0.98 and s["integration_f1_macro_lax"] >= 0.90
    assert s["eligible"] >= gates.MIN_ELIGIBLE and s["integration_f1_macro_strict"] < 1.0  # strict is stricter
    assert json.loads((tmp_path / "r.json").read_text())["summary"] == s


def test_an_ungrounded_claim_lowers_integration_f1(extracted_rows, tmp_path):
    header, rows = _copy(extracted_rows)
    row = next(r for r in rows if r["metadata"]["scenario"] == "code_exec" and r["metadata"]["integration_claims"])
    claim = row["metadata"]["integration_claims"][0]
    fake = "The program printed 987654321"
    row["teacher_text"] = row["teacher_text"].replace(claim, fake.ljust(len(claim))[: len(claim)])
    row["messages"][-1]["content"] = row["messages"][-1]["content"].replace(claim, fake.ljust(len(claim))[: len(claim)])
    report, _, _ = _verify(tmp_path, header, rows)
    item = next(i for i in report["items"] if i["id"] == row["id"])
    assert item["f1_lax"] < 1.0 and any(p.startswith("integration:") for p in item["problems"])


def test_a_control_that_integrates_fails_the_gate(extracted_rows, tmp_path):
    header, rows = _copy(extracted_rows)
    donor = next(r for r in rows if r["metadata"]["spans"]["integration"]["bytes"])
    for r in rows:
        if r["metadata"]["expected_behaviour"] == "no_tool":
            r["metadata"]["spans"]["integration"] = donor["metadata"]["spans"]["integration"]
    _, code, g = _verify(tmp_path, header, rows)
    assert g["controls_with_integration"]["status"] == "FAIL" and code == 1


def test_misaligned_token_spans_fail_alignment(extracted_rows, tmp_path):
    header, rows = _copy(extracted_rows)
    for r in rows:
        for span in r["metadata"]["spans"]["json_args"]["tokens"]:
            span[0] += 1
    report, code, g = _verify(tmp_path, header, rows)
    assert g["token_align_ok_rate"]["status"] == "FAIL" and code == 1
    assert report["summary"]["problems"]["token_align"] > 0


def test_invalid_arguments_and_parity_breaks_are_reported(extracted_rows, tmp_path):
    header, rows = _copy(extracted_rows)
    row = next(r for r in rows if r["metadata"]["call_sequence"])
    call = next(m for m in row["messages"] if m.get("tool_calls"))["tool_calls"][0]
    call["function"]["arguments"] = '{"bogus": 1}'
    row["metadata"]["spans"]["json_args"]["bytes"].append([0, 1])
    report, _, _ = _verify(tmp_path, header, rows)
    item = next(i for i in report["items"] if i["id"] == row["id"])
    kinds = {p.split(":")[0] for p in item["problems"]}
    assert {"semantic", "parity", "render"} <= kinds


def test_pii_left_in_a_prompt_breaks_the_privacy_gate(extracted_rows, tmp_path):
    header, rows = _copy(extracted_rows)
    rows[0]["messages"][1]["content"] += " mail me: jane.doe@corp-mail.io"
    _, code, g = _verify(tmp_path, header, rows)
    assert g["privacy_ok_rate"]["status"] == "FAIL" and code == 1


def test_duplicate_ids_are_counted(extracted_rows, tmp_path):
    header, rows = _copy(extracted_rows)
    report, code, g = _verify(tmp_path, header, [*rows, rows[0]])
    assert report["summary"]["duplicate_ids"] == 1 and g["duplicate_ids"]["status"] == "FAIL" and code == 1


def test_wrong_tokenizer_fingerprint_is_a_clear_error(extracted_rows, tmp_path):
    header, rows = _copy(extracted_rows)
    header["tokenizer_sha256"] = "f" * 64
    with pytest.raises(DataError, match="wrong tokenizer fingerprint"):
        _verify(tmp_path, header, rows)


def test_unextracted_data_is_refused(dataset_dir, tmp_path):
    with pytest.raises(DataError, match="data extract"):
        gates.run(dataset_dir / "raw.jsonl", tmp_path / "r.json")


def test_small_sets_make_quota_gates_inconclusive_not_failing(extracted_rows, tmp_path):
    header, rows = _copy(extracted_rows)
    _, code, g = _verify(tmp_path, header, rows[:12])
    assert code == 0 and g["integration_f1_macro_lax"]["status"] == "INCONCLUSIVE"
    assert g["long_context_share"]["status"] == "INCONCLUSIVE"


def test_verify_can_draw_its_report(dataset_dir, tmp_path):
    report, _ = gates.run(dataset_dir / "extracted.jsonl", tmp_path / "r.json", plot=True)
    png = Path(report["plot"])
    assert png == tmp_path / "r.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
