"""ONNX export of the tiny worker and judge: parity with torch, contracts, and refusals of bad artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conversion.contracts import read_contract
from conversion.onnx_export import PARITY_ATOL, export_onnx
from conversion.source import ConversionError
from kimi_student.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worker_onnx(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "worker"
    export_onnx(artifacts / "worker", out)
    return out


def test_worker_parity_and_contract(worker_onnx: Path) -> None:
    contract = read_contract(worker_onnx)
    parity = contract["parity"]
    assert parity["max_abs_logit_error"] <= PARITY_ATOL
    assert parity["greedy_tokens_equal"]
    assert parity["kv"] <= PARITY_ATOL
    assert contract["opset"] >= 18 and contract["source"]["role"] == "worker"
    decode = contract["graphs"]["decode"]
    names = [t["name"] for t in decode["inputs"]]
    assert names == ["tokens", "positions", "cache_k_0", "cache_v_0", "cache_k_1", "cache_v_1"]
    assert decode["inputs"][0] == {"name": "tokens", "dtype": "int64", "shape": ["batch", "seq"]}
    assert decode["inputs"][2] == {"name": "cache_k_0", "dtype": "float32", "shape": ["batch", 2, "cache", 16]}
    assert decode["outputs"][0] == {"name": "logits", "dtype": "float32", "shape": ["batch", "seq", 512]}
    assert decode["outputs"][1]["shape"] == ["batch", 2, "seq", 16]
    prefill = contract["graphs"]["prefill"]
    assert prefill["outputs"][0] == {"name": "logits", "dtype": "float32", "shape": ["batch", 512]}
    assert "judge" not in contract["graphs"]
    assert {p.name for p in worker_onnx.iterdir()} >= {"prefill.onnx", "decode.onnx", "contract.json"}


def test_judge_exports_heads(artifacts: Path, tmp_path: Path) -> None:
    contract = export_onnx(artifacts / "judge", tmp_path / "judge")
    judge = contract["graphs"]["judge"]
    assert [t["name"] for t in judge["outputs"]] == ["score", "clause_logits"]
    assert judge["outputs"][1]["shape"] == ["batch", 5]
    assert contract["parity"]["judge_random"] <= PARITY_ATOL and contract["parity"]["judge_real"] <= PARITY_ATOL
    assert contract["parity"]["max_abs_logit_error"] <= PARITY_ATOL


def test_cli_refuses_modified_weights_before_converting(artifacts: Path, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "worker"
    shutil.copytree(artifacts / "worker", broken)
    with (broken / "model.safetensors").open("r+b") as f:
        f.seek(-8, 2)
        f.write(b"\0" * 8)
    out = tmp_path / "out"
    assert main(["export", "onnx", "--artifact", str(broken), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model.safetensors" in err and "does not match the manifest" in err
    assert not out.exists()  # refused before any conversion work


def test_cli_refuses_unknown_role(artifacts: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["export", "onnx", "--artifact", str(artifacts / "teacher"), "--out", str(out)]) == 2
    assert "role 'teacher' is not exported" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ConversionError, match=r"no manifest\.json"):
        export_onnx(tmp_path, out)


def test_cli_prints_summary(worker_onnx: Path, artifacts: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "w"
    assert main(["export", "onnx", "--artifact", str(artifacts / "drafter"), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["graphs"] == ["decode", "prefill"]
    assert summary["parity"]["max_abs_logit_error"] <= PARITY_ATOL


def test_refuses_a_role_it_does_not_know(artifacts: Path, tmp_path: Path) -> None:
    odd = tmp_path / "critic"
    shutil.copytree(artifacts / "worker", odd)
    manifest = json.loads((odd / "manifest.json").read_text())
    (odd / "manifest.json").write_text(json.dumps({**manifest, "role": "critic"}))
    with pytest.raises(ConversionError, match="role 'critic' is not exported"):
        export_onnx(odd, tmp_path / "out")
    assert not (tmp_path / "out").exists()
