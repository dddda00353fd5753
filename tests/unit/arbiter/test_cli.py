"""`kimi-student caws ...` end to end in-process: outputs, exit codes 0/1/2/3 and error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from arbiter.schema import validate
from kimi_student.cli import main

from .builders import NOW_ISO, ROOT, budget, diff, gates, manifest, spec_data, two_approvers, waiver_data

EXAMPLES = ROOT / "configs" / "caws" / "examples"


def files(tmp_path: Path, spec: dict | None = None, change: str | None = None, rationale: str = "Adds a limiter.",
          evidence: dict | None = None, gate_results: dict | None = None, waivers: list | None = None) -> list[str]:
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec or spec_data()))
    (tmp_path / "change.diff").write_text(change if change is not None else diff())
    (tmp_path / "rationale.txt").write_text(rationale)
    (tmp_path / "evidence.json").write_text(json.dumps(evidence or manifest()))
    (tmp_path / "gates.json").write_text(json.dumps(gate_results or gates()))
    argv = ["caws", "adjudicate", "--spec", str(tmp_path / "spec.yaml"), "--diff", str(tmp_path / "change.diff"),
            "--rationale", str(tmp_path / "rationale.txt"), "--evidence", str(tmp_path / "evidence.json"),
            "--gates", str(tmp_path / "gates.json"), "--now", NOW_ISO]
    if waivers is not None:
        (tmp_path / "waivers.yaml").write_text(yaml.safe_dump(waivers))
        argv += ["--waivers", str(tmp_path / "waivers.yaml")]
    return argv


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_adjudicate_pass_prints_a_schema_valid_verdict_and_exits_0(tmp_path, capsys):
    code, out, _ = run(files(tmp_path), capsys)
    record = json.loads(out)
    assert (code, record["status"], record["timestamp"]) == (0, "PASS", NOW_ISO)
    assert validate("caws_verdict", record) == ()


def test_adjudicate_fail_exits_1(tmp_path, capsys):
    code, out, _ = run(files(tmp_path, gate_results=gates(tests_pass=False)), capsys)
    assert (code, json.loads(out)["status"]) == (1, "FAIL")


def test_adjudicate_waiver_required_exits_2_and_a_waiver_file_turns_it_to_pass(tmp_path, capsys):
    over = diff(["src/auth/a.py", "src/auth/b.py", "src/auth/c.py", "src/auth/d.py"])
    code, out, _ = run(files(tmp_path, spec=spec_data(**budget(3, 100)), change=over), capsys)
    assert (code, json.loads(out)["status"]) == (2, "WAIVER_REQUIRED")
    raise_ = waiver_data(delta={"max_files": 1, "max_loc": 0}, approvers=two_approvers())
    code, out, _ = run(files(tmp_path, spec=spec_data(**budget(3, 100)), change=over, waivers=[raise_]), capsys)
    record = json.loads(out)
    assert (code, record["status"], record["violations"][0]["waived_by"]) == (0, "PASS", "WV-0001")


def test_same_files_and_now_give_the_same_verdict(tmp_path, capsys):
    argv = files(tmp_path)
    assert run(argv, capsys)[1] == run(argv, capsys)[1]


@pytest.mark.parametrize(("change", "needle"), [
    ({"spec": "id: FEAT-1\ntitle: [broken\n"}, "spec.yaml: line"),
    ({"change": "this is not a diff\n"}, "$.diff: line 1: no file header found"),
    ({"spec": {**spec_data(), "risk_tier": "high"}}, "$.risk_tier"),
    ({"evidence": {"manifest_id": "m"}}, "$.evidence_manifest.change_id"),
])
def test_bad_input_exits_3_with_the_field_path(tmp_path, capsys, change, needle):
    kwargs = dict(change)
    argv = files(tmp_path, **{k: v for k, v in kwargs.items() if k != "spec" or isinstance(v, dict)})
    if isinstance(kwargs.get("spec"), str):
        (tmp_path / "spec.yaml").write_text(kwargs["spec"])
    code, out, err = run(argv, capsys)
    assert code == 3 and out == ""
    assert needle in err


def test_gate_results_with_wrong_types_name_the_field(tmp_path, capsys):
    code, _, err = run(files(tmp_path, gate_results={"tests_pass": "yes"}), capsys)
    assert code == 3 and "$.gate_results.tests_pass" in err


def test_a_missing_required_flag_exits_3(capsys):
    code, _, err = run(["caws", "adjudicate", "--spec", "x.yaml"], capsys)
    assert code == 3 and "--diff" in err


def test_validate_spec(tmp_path, capsys):
    good, bad = tmp_path / "good.json", tmp_path / "bad.yaml"
    good.write_text(json.dumps(spec_data()))
    bad.write_text(yaml.safe_dump(spec_data(mode="doc")))
    code, out, _ = run(["caws", "validate-spec", str(good)], capsys)
    assert (code, json.loads(out)["valid"], json.loads(out)["id"]) == (0, True, "FEAT-42")
    code, out, err = run(["caws", "validate-spec", str(bad)], capsys)
    assert code == 3 and json.loads(out)["errors"][0]["path"].endswith("$.mode")
    assert "working_spec.semantic.mode_tier" in err
    code, _, err = run(["caws", "validate-spec", str(tmp_path / "missing.yaml")], capsys)
    assert code == 3 and "file not found" in err


def test_claimify_prints_the_contract_response(tmp_path, capsys):
    manifest_file = tmp_path / "m.json"
    manifest_file.write_text(json.dumps(manifest()))
    code, out, _ = run(["caws", "claimify", "--text", "This is a great design. Auth test batch 1 passed.",
                        "--evidence", str(manifest_file)], capsys)
    response = json.loads(out)
    assert code == 0 and validate("claimify_response", response) == ()
    assert [s["selected"] for s in response["sentences"]] == [False, True]
    assert response["claims"][0]["verification"]["status"] in {"VERIFIED", "INSUFFICIENT_EVIDENCE", "UNVERIFIED"}


def test_claimify_from_a_file_with_bad_context_exits_3(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("It was fixed then.")
    (tmp_path / "ctx.json").write_text('{"unknown": 1}')
    code, out, _ = run(["caws", "claimify", "--file", str(tmp_path / "t.txt")], capsys)
    assert code == 0 and json.loads(out)["claims"] == []
    code, _, err = run(["caws", "claimify", "--file", str(tmp_path / "t.txt"), "--context",
                        str(tmp_path / "ctx.json")], capsys)
    assert code == 3 and "$.context.unknown" in err


def test_eval_over_the_shipped_examples_agrees_fully(capsys):
    code, out, _ = run(["caws", "eval", "--cases", str(EXAMPLES)], capsys)
    report = json.loads(out)
    assert (code, report["agreement"], report["cases"]) == (0, 1.0, 13)


def test_eval_reports_disagreement_with_exit_1(tmp_path, capsys):
    case = tmp_path / "case-a"
    case.mkdir()
    for name in ("spec.yaml", "change.diff", "rationale.txt", "evidence.json", "gates.json"):
        (case / name).write_text((EXAMPLES / "01-pass-tier2" / name).read_text())
    (case / "case.yaml").write_text(yaml.safe_dump({"now": NOW_ISO, "expected_status": "FAIL"}))
    code, out, _ = run(["caws", "eval", "--cases", str(tmp_path)], capsys)
    assert (code, json.loads(out)["agreement"]) == (1, 0.0)


def test_chain_append_and_verify(tmp_path, capsys):
    chain = tmp_path / "chain.jsonl"
    argv = [*files(tmp_path), "--chain", str(chain)]
    first = json.loads(run(argv, capsys)[1])
    second = json.loads(run([*argv[:-4], "--now", "2026-11-25T12:00:01Z", "--chain", str(chain)], capsys)[1])
    assert second["provenance"]["previous_hash"] == first["provenance"]["entry_hash"]
    code, out, _ = run(["caws", "verify-chain", str(chain)], capsys)
    assert (code, json.loads(out)) == (0, {"ok": True, "length": 2, "first_bad_index": None})
    lines = chain.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["record_sha256"] = "0" * 64
    chain.write_text(json.dumps(entry) + "\n" + lines[1] + "\n")
    code, out, _ = run(["caws", "verify-chain", str(chain)], capsys)
    assert (code, json.loads(out)["first_bad_index"]) == (1, 0)


@pytest.mark.parametrize(("case_yaml", "needle"), [
    ("now: 2026-11-25T12:00:00Z\n", "needs expected_status"),
    ("expected_status: PASS\nnow: '2026-11-25T12:00:00'\n", "date-time needs a timezone"),
    ("expected_status: [PASS\n", "malformed YAML"),
])
def test_eval_with_a_broken_case_exits_3(tmp_path, capsys, case_yaml, needle):
    case = tmp_path / "broken"
    case.mkdir()
    for name in ("spec.yaml", "change.diff", "rationale.txt", "evidence.json", "gates.json"):
        (case / name).write_text((EXAMPLES / "01-pass-tier2" / name).read_text())
    (case / "case.yaml").write_text(case_yaml)
    code, _, err = run(["caws", "eval", "--cases", str(tmp_path)], capsys)
    assert code == 3 and needle in err


def test_eval_of_a_directory_without_cases_exits_3(tmp_path, capsys):
    code, _, err = run(["caws", "eval", "--cases", str(tmp_path)], capsys)
    assert code == 3 and "no case directories" in err


def test_a_waivers_file_that_is_not_a_list_exits_3(tmp_path, capsys):
    argv = files(tmp_path)
    (tmp_path / "w.json").write_text('{"id": "WV-0001"}')
    code, _, err = run([*argv, "--waivers", str(tmp_path / "w.json")], capsys)
    assert code == 3 and "waivers are a list" in err


def test_claimify_change_flag_resolves_this_change(capsys):
    code, out, _ = run(["caws", "claimify", "--change", "change FEAT-42", "--text", "This change adds a limiter."],
                       capsys)
    assert code == 0 and [c["statement"] for c in json.loads(out)["claims"]] == ["Change FEAT-42 adds a limiter."]


def test_the_console_script_returns_the_status_exit_codes(tmp_path):
    import subprocess
    import sys

    over = diff(["src/auth/a.py", "src/auth/b.py", "src/auth/c.py", "src/auth/d.py"])
    argv = files(tmp_path, spec=spec_data(**budget(3, 100)), change=over)
    done = subprocess.run([sys.executable, "-m", "kimi_student", *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 2 and json.loads(done.stdout)["status"] == "WAIVER_REQUIRED"
    (tmp_path / "change.diff").write_text("not a diff")
    done = subprocess.run([sys.executable, "-m", "kimi_student", *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 3 and "diff.not_a_diff" in done.stderr
