"""Startup checks: the server refuses to start on artifacts it cannot serve as configured."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modeling.checkpoint import save_artifact
from modeling.model import Transformer
from modeling.tokenizer import save_tokenizer, train_tokenizer
from service.api.app import create_app
from service.models import SetupError
from service.settings import Settings
from tests.service.conftest import tiny_pair
from training.data import generate


@pytest.fixture(scope="module")
def mismatched(tmp_path_factory, tiny_artifacts: Path) -> Path:
    """A worker and a drafter trained on different tokenizers (same vocabulary size)."""
    root = tmp_path_factory.mktemp("mismatch")
    generate.run(root / "raw.jsonl", total=240, seed=99)
    rows = [json.loads(line) for line in (root / "raw.jsonl").read_text().splitlines()[1:]]
    texts = [r["prompt_text"] + r["teacher_text"] + " zebra quokka" for r in rows]
    save_tokenizer(train_tokenizer(texts, 512), root / "tokenizer")
    shutil.copytree(tiny_artifacts / "worker", root / "artifacts" / "worker")
    _, (drafter, cfg) = tiny_pair()
    save_artifact(root / "artifacts" / "drafter", drafter, cfg, tokenizer_dir=root / "tokenizer")
    return root / "artifacts"


def test_refuses_drafter_with_another_tokenizer(mismatched: Path) -> None:
    with pytest.raises(SetupError, match="tokenizers differ"):
        create_app(Settings(artifacts=mismatched))
    create_app(Settings(artifacts=mismatched, speculative="ngram"))  # no drafter needed: starts


def test_cli_exits_with_the_reason(mismatched: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "kimi_student", "serve", "--artifacts", str(mismatched), "--port", "0"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "tokenizers differ" in done.stderr
    done = subprocess.run([*cmd[:-4], "--artifacts", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no model artifacts" in done.stderr


def test_missing_drafter_falls_back_to_ngram(tiny_artifacts: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_artifacts / "worker", tmp_path / "worker")
    app = create_app(Settings(artifacts=tmp_path))
    assert app.state.models.speculative == "ngram" and app.state.models.roles == ["worker"]


def test_settings_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("KS_PORT", "9123")
    monkeypatch.setenv("KS_MODELS", "worker,judge")
    monkeypatch.setenv("KS_SPECULATIVE", "off")
    s = Settings()
    assert (s.port, s.models, s.speculative) == (9123, ["worker", "judge"], "off")
    with pytest.raises(ValueError):
        Settings(models=["wizard"])


def test_backend_for_every_role_or_per_role(monkeypatch) -> None:
    assert [Settings(backend="onnx").backend_for(r) for r in ("worker", "judge")] == ["onnx", "onnx"]
    s = Settings(backend="torch, drafter=onnx")
    assert (s.backend_for("worker"), s.backend_for("drafter")) == ("torch", "onnx")
    monkeypatch.setenv("KS_BACKEND", "worker=onnx,drafter=onnx")
    env = Settings()
    assert [env.backend_for(r) for r in ("worker", "drafter", "judge")] == ["onnx", "onnx", "torch"]
    monkeypatch.delenv("KS_BACKEND")
    assert Settings().backend == "auto" and Settings(backend="auto,judge=torch").backend_for("judge") == "torch"
    for bad, reason in (("tflite", "unknown backend"), ("wizard=onnx", "unknown role"), ("drafter=", "unknown backend"),
                        (" , ", "empty")):
        with pytest.raises(ValueError, match=reason):
            Settings(backend=bad)


def test_parallel_drafter_is_served_as_one(tiny_artifacts: Path, tmp_path: Path) -> None:
    """A drafter trained to guess several tokens per forward (model.parallel_draft) drafts that way, and by
    default as many tokens as it guesses; --num-speculative-tokens still caps it."""
    shutil.copytree(tiny_artifacts / "worker", tmp_path / "worker")
    _, (noisy, cfg) = tiny_pair()
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"parallel_draft": 3})})
    drafter = Transformer(cfg.model)
    drafter.load_state_dict(noisy.state_dict())
    save_artifact(tmp_path / "drafter", drafter, cfg, tokenizer_dir=tiny_artifacts / "worker")
    for requested, gamma in ((None, 4), (2, 2)):
        app = create_app(Settings(artifacts=tmp_path, torch_threads=1, load_in_background=False,
                                  num_speculative_tokens=requested))
        with TestClient(app):  # the lifespan loads the models
            engine = app.state.models.models["worker"].engine
            assert (engine.parallel_draft, engine.gamma.gamma_max) == (3, gamma)
