"""Core ML export of the tiny worker and judge (conversion runs on Linux), probed against the contracts.

Prediction parity needs the Core ML framework: those tests run on macOS 15+ and skip elsewhere.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("coremltools", reason="the coreml extra is not installed")

from conversion.contracts import read_contract
from conversion.coreml_export import STEP_TOKENS, export_coreml
from conversion.probes import (
    PREDICTION_SKIP_REASON,
    can_predict_coreml,
    coreml_prediction_checks,
    coreml_spec_checks,
    probe,
)
from conversion.source import ConversionError
from kimi_student.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def coreml_root(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<root>/coreml/{worker,judge}: the worker has max_seq_len 1024, so functions step_512 and step_1024."""
    root = tmp_path_factory.mktemp("coreml-exports")
    export_coreml(artifacts / "worker", root / "coreml" / "worker")
    export_coreml(artifacts / "judge", root / "coreml" / "judge")
    return root


def failures(checks) -> list:
    return [c for c in checks if c.ok is False]


def test_worker_is_a_stateful_multifunction_package(coreml_root: Path) -> None:
    contract = read_contract(coreml_root / "coreml" / "worker")
    assert sorted(contract["functions"]) == ["step_1024", "step_512"]
    step = contract["functions"]["step_512"]
    assert step["inputs"][0] == {"name": "tokens", "dtype": "int32", "shape": [1, STEP_TOKENS]}
    assert len(step["states"]) == 4 and step["states"][0]["shape"] == [1, 2, 512, 16]
    assert contract["functions"]["step_1024"]["states"][0]["shape"] == [1, 2, 1024, 16]
    assert contract["minimum_deployment_target"] == "macOS15 / iOS18"
    checks = coreml_spec_checks(coreml_root / "coreml" / "worker")
    assert not failures(checks), failures(checks)
    names = {c.name for c in checks}
    assert {"step_512: states", "step_1024: int8 weights", "weights shared across functions"} <= names


def test_judge_has_enumerated_lengths(coreml_root: Path) -> None:
    contract = read_contract(coreml_root / "coreml" / "judge")
    assert contract["functions"]["main"]["inputs"][0]["shape"] == [1, [512, 1024, 2048]]
    assert [o["name"] for o in contract["functions"]["main"]["outputs"]] == ["score", "clause_logits"]
    checks = coreml_spec_checks(coreml_root / "coreml" / "judge")
    assert not failures(checks), failures(checks)


def test_probe_catches_a_package_that_breaks_its_contract(coreml_root: Path, tmp_path: Path) -> None:
    broken = tmp_path / "worker"
    shutil.copytree(coreml_root / "coreml" / "worker", broken)
    contract = json.loads((broken / "contract.json").read_text())
    contract["functions"]["step_512"]["states"][0]["shape"] = [1, 2, 2048, 16]
    (broken / "contract.json").write_text(json.dumps(contract))
    report = probe(broken)
    assert not report["ok"]
    assert [c["name"] for c in report["checks"] if c["ok"] is False] == ["step_512: states"]


def test_probes_command(coreml_root: Path, capsys) -> None:
    assert main(["export", "probes", "--root", str(coreml_root)]) == 0
    out = capsys.readouterr().out
    assert "PASS coreml worker" in out and "PASS coreml judge" in out
    if not can_predict_coreml():
        assert f"skip prediction parity: {PREDICTION_SKIP_REASON}" in out


NO_COREML_RUNTIME = "Core ML predictions need macOS 15+; coremltools cannot predict here"


@pytest.mark.skipif(not can_predict_coreml(), reason=NO_COREML_RUNTIME)
@pytest.mark.parametrize("role", ["worker", "judge"])
def test_prediction_parity_on_macos(coreml_root: Path, role: str) -> None:
    checks = coreml_prediction_checks(coreml_root / "coreml" / role)
    assert checks and all(c.ok for c in checks), checks


def test_prediction_probe_skips_with_a_reason_off_macos(coreml_root: Path) -> None:
    if can_predict_coreml():
        pytest.skip("this machine predicts: the parity test above runs instead")
    [check] = coreml_prediction_checks(coreml_root / "coreml" / "worker")
    assert check.ok is None and "macOS" in check.detail


def test_refuses_unknown_role_before_converting(artifacts: Path, tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="role 'teacher' is not exported"):
        export_coreml(artifacts / "teacher", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_expected_package_size_matches_the_export(coreml_root: Path, capsys) -> None:
    """`models describe --packages` predicts the int8 Core ML weights of the tiny judge within 5 %."""
    assert main(["models", "describe", "judge_tiny", "--packages", "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)["packages"]["coreml_int8_bytes"]
    weights = coreml_root / "coreml" / "judge" / "model.mlpackage" / "Data" / "com.apple.CoreML" / "weights"
    actual = (weights / "weight.bin").stat().st_size
    assert abs(actual - expected) <= 0.05 * actual, (actual, expected)


def test_the_converted_step_program_matches_the_model(artifacts: Path) -> None:
    """What coremltools receives, run in torch: a 21-token prompt in 8-token chunks through the state (the
    last one padded) gives the model's logits at every real position."""
    import torch

    from conversion.coreml_export import state_caches
    from modeling.checkpoint import load_artifact

    model, _ = load_artifact(artifacts / "worker", role="worker")
    prompt = torch.randint(3, 512, (1, 21), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(prompt)[0]
        with state_caches(model, 512) as step:
            got = []
            for start in range(0, 21, STEP_TOKENS):
                chunk = prompt[0, start:start + STEP_TOKENS]
                padded = torch.zeros(STEP_TOKENS, dtype=torch.int32)
                padded[: len(chunk)] = chunk
                logits = step(padded[None], torch.arange(start, start + STEP_TOKENS, dtype=torch.int32))
                got.append(logits[0, : len(chunk)])
        assert (torch.cat(got) - expected).abs().max().item() < 1e-4
        assert model.model.layers[0].self_attn.kv_cache is None  # the caches were restored
