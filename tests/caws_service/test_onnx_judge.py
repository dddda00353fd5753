"""`--backend judge=onnx`: the CAWS judge's heads in onnxruntime, from an export of the same weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conversion.onnx_export import export_onnx
from conversion.onnx_runtime import OnnxJudgeHeads
from modeling.checkpoint import sha256_file
from modeling.judge import JudgeModel
from service.api.app import create_app
from service.models import SetupError
from service.settings import Settings
from tests.caws_service.conftest import make_key, plea_body, plea_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(judge_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny judge's artifacts with its ONNX export where the service looks (<artifacts>/onnx)."""
    root = tmp_path_factory.mktemp("onnx-judge") / "artifacts"
    shutil.copytree(judge_artifacts / "judge", root / "judge")
    export_onnx(root / "judge", root / "onnx" / "judge")
    return root


def settings(artifacts: Path, data: Path) -> Settings:
    return Settings(models=[], artifacts=artifacts, data_dir=data, backend="torch,judge=onnx",
                    load_in_background=False, torch_threads=None)


def test_onnx_heads_score_what_torch_scores(exported: Path) -> None:
    torch_judge = JudgeModel.load(exported / "judge")
    onnx_judge = JudgeModel.load(exported / "judge", heads=OnnxJudgeHeads(exported / "onnx" / "judge", threads=1))
    prompts, candidates = ["spec FEAT-1"] * 5, [plea_text(i) for i in (1, 2, 30, 41, 7)]  # unequal lengths: padding
    for a, b in zip(torch_judge.score_batch(prompts, candidates), onnx_judge.score_batch(prompts, candidates),
                    strict=True):
        assert abs(a.raw - b.raw) < 1e-4 and a.satisfied == b.satisfied
        assert all(abs(a.clauses[c] - b.clauses[c]) < 1e-4 for c in a.clauses)


def test_the_service_adjudicates_with_the_onnx_judge(exported: Path, tmp_path: Path) -> None:
    app = create_app(settings(exported, tmp_path))
    with TestClient(app) as client:
        assert isinstance(app.state.caws.judge.model.heads, OnnxJudgeHeads)  # the batcher's model
        headers = make_key(client)
        r = client.post("/caws/adjudicate", json=plea_body(), headers=headers)
        assert r.status_code == 200, r.text
        record = r.json()
        assert record["models"]["judge"] == sha256_file(exported / "judge" / "manifest.json")
        assert record["candidates"][0]["judge_score"] is not None
        score = client.post("/caws/judge/score", json={"prompt": "p", "candidate": plea_text(3)}, headers=headers)
        expected = JudgeModel.load(exported / "judge").score("p", plea_text(3))
        assert abs(score.json()["score"] - expected.score) < 1e-4


def test_a_missing_or_stale_judge_export_refuses_to_start(exported: Path, tmp_path: Path) -> None:
    stale = tmp_path / "artifacts"
    shutil.copytree(exported, stale)
    contract = stale / "onnx" / "judge" / "contract.json"
    doc = json.loads(contract.read_text())
    doc["source"]["weights_sha256"] = "0" * 64
    contract.write_text(json.dumps(doc))
    with pytest.raises(SetupError, match=r"--backend onnx \(judge\): .* was exported from weights 000000000000"):
        create_app(settings(stale, tmp_path / "d1"))
    shutil.rmtree(stale / "onnx")
    with pytest.raises(SetupError, match=r"--backend onnx \(judge\): no ONNX export at"):
        create_app(settings(stale, tmp_path / "d2"))
