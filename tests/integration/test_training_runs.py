"""Whole training runs as users start them: killed and resumed, distributed, and the tiny bootstrap."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from modeling.checkpoint import load_artifact
from modeling.config import resolve_config_path
from modeling.judge import JudgeModel

KS = [sys.executable, "-m", "kimi_student"]


def _config(tmp_path: Path, **training) -> Path:
    data = yaml.safe_load(resolve_config_path("worker_tiny").read_text())
    data["training"].update(training)
    path = tmp_path / "worker.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _train_cmd(dataset_dir: Path, config: Path, out: Path) -> list[str]:
    return [*KS, "train", "worker", "--config", str(config), "--data", str(dataset_dir / "extracted.jsonl"),
            "--tokenizer", str(dataset_dir / "tokenizer"), "--out", str(out), "--eval-turns", "0"]


def _losses(out: Path) -> list[float]:
    history = json.loads((out / "manifest.json").read_text())["metrics"]["history"]
    return [h["loss"] for h in history["train"]]


@pytest.mark.slow
def test_resume_after_kill_reproduces_the_uninterrupted_loss_curve(dataset_dir, tmp_path):
    config = _config(tmp_path, max_steps=60, eval_every=10, warmup_steps=5,
                     seq_len=[{"until_step": 30, "seq_len": 768}, {"until_step": 60, "seq_len": 1024}])
    subprocess.run(_train_cmd(dataset_dir, config, tmp_path / "a" / "worker"), check=True, capture_output=True)
    cmd = _train_cmd(dataset_dir, config, tmp_path / "b" / "worker")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = tmp_path / "b" / "checkpoints" / "worker" / "step-000020" / "manifest.json"
    deadline = time.time() + 120
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "b" / "worker" / "manifest.json").exists()
    subprocess.run(cmd, check=True, capture_output=True)  # resumes from the newest checkpoint
    assert _losses(tmp_path / "b" / "worker") == _losses(tmp_path / "a" / "worker")


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(dataset_dir, tmp_path):
    config = _config(tmp_path, max_steps=6, eval_every=6, warmup_steps=1, batch_size=4)
    subprocess.run(_train_cmd(dataset_dir, config, tmp_path / "one" / "worker"), check=True, capture_output=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
           "kimi_student", *_train_cmd(dataset_dir, config, tmp_path / "two" / "worker")[3:]]
    result = subprocess.run(ddp, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    one, two = _losses(tmp_path / "one" / "worker"), _losses(tmp_path / "two" / "worker")
    assert len(one) == len(two) == 6
    assert all(abs(a - b) <= 1e-4 * max(1.0, abs(a)) for a, b in zip(one, two, strict=True)), (one, two)


@pytest.mark.slow
def test_tiny_bootstrap_builds_loadable_artifacts_and_is_idempotent(tmp_path):
    out = tmp_path / "artifacts"
    first = subprocess.run([*KS, "bootstrap", "--profile", "tiny", "--artifacts", str(out)], check=True,
                           capture_output=True, text=True)
    assert "[9/10] drafter: done" in first.stdout and "[10/10] judge: done" in first.stdout
    for role in ("teacher", "worker", "drafter", "judge"):
        _, cfg = load_artifact(out / role, role=role)
        assert cfg.model.vocab_size == 512 and (out / role / "tokenizer.json").exists()
    worker = json.loads((out / "worker" / "manifest.json").read_text())["metrics"]
    assert worker["kd"]["token_level"] and worker["kd"]["teacher"] == f"local:{out / 'teacher'}"
    assert worker["kd"]["records"] > 0
    drafter = json.loads((out / "drafter" / "manifest.json").read_text())["metrics"]
    assert drafter["kd"]["capture"] == "generated" and drafter["kd"]["teacher"] == f"local:{out / 'worker'}"
    assert 0 < drafter["alpha"] <= 1 and 1 <= drafter["expected_tokens_g4"] <= 5
    assert len(drafter["alpha_by_position"]) == 4  # drafter_tiny guesses 3 tokens past the next one
    again = subprocess.run([*KS, "bootstrap", "--profile", "tiny", "--artifacts", str(out)], check=True,
                           capture_output=True, text=True)
    judge = JudgeModel.load(out / "judge")  # heads and calibration: servable by the CAWS service
    assert judge.compare("spec", "a", "b").verdict in ("A", "B", "TIE")
    assert again.stdout.count("up to date, skipped") == 10
