"""`make judge` in small: judge pairs and a few judge training steps through the CLI, then the artifact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kimi_student.cli import main
from modeling.checkpoint import verify_artifact
from modeling.config import load_role_config
from modeling.judge import CALIBRATION, JudgeModel

METRICS = ("pairwise_accuracy", "three_way_accuracy", "clause_micro_f1", "clause_macro_f1", "clause_f1",
           "clause_ece", "swap_consistency")


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """judge_tiny, cut to 4 steps of 4 pairs at 512 tokens."""
    data = load_role_config("judge_tiny").model_dump(mode="json")
    data["training"].update(max_steps=4, warmup_steps=1, batch_size=4, eval_every=2,
                            seq_len=[{"until_step": 4, "seq_len": 512}])
    path = tmp_path_factory.mktemp("cfg") / "judge_test.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_judge_pairs_then_train_judge_through_the_cli(tmp_path: Path, dataset_dir: Path, tiny_config: Path,
                                                    capsys):
    pairs, out = tmp_path / "pairs", tmp_path / "judge"
    assert main(["data", "judge-pairs", "--out", str(pairs), "--scenarios", "30", "--seed", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["splits"]) == {"train", "val", "test"} and summary["splits"]["test"]["pairs"] > 0
    assert main(["train", "judge", "--config", str(tiny_config), "--pairs", str(pairs), "--tokenizer",
                 str(dataset_dir / "tokenizer"), "--out", str(out), "--w-tie", "0.25"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert all(k in metrics["test"] for k in METRICS) and metrics["options"]["w_tie"] == 0.25
    assert 0.0 <= metrics["test"]["pairwise_accuracy"] <= 1.0
    manifest = verify_artifact(out)
    assert {CALIBRATION, "judge_training.png", "judge_metrics.json"} <= set(manifest["files"])
    judge = JudgeModel.load(out)
    assert judge.calibrated
    prompt = "CAWS working spec FEAT-1 (tier 2, mode feature): Add a limiter"
    result = judge.compare(prompt, "files: 1 of 2\nbudget: within", "files: 9 of 2\nbudget: over")
    assert result.verdict in ("A", "B", "TIE")
    # judge_tiny has the entailment head: measured beside the lexical rules, temperature stored
    entail = metrics["entailment"]
    assert entail["test"]["examples"] == entail["test_lexical_baseline"]["examples"] > 0
    assert 0.0 <= entail["test"]["accuracy"] <= 1.0 and entail["test_lexical_baseline"]["accuracy"] > 0.5
    assert judge.has_entailment and judge.calibration.entail_temperature > 0


def test_train_command_refuses_a_config_of_another_role(tmp_path: Path, dataset_dir: Path, capsys):
    code = main(["train", "judge", "--config", "worker_tiny", "--pairs", str(tmp_path), "--tokenizer",
                 str(dataset_dir / "tokenizer"), "--out", str(tmp_path / "j")])
    assert code == 2 and "not a judge config" in capsys.readouterr().err
    assert not (tmp_path / "j").exists()


def test_train_judge_makes_pairs_once_then_reuses_them(tmp_path: Path, dataset_dir: Path, tiny_config: Path,
                                                       monkeypatch):
    """The bootstrap entry point: pairs are generated when missing or stale, kept when they match."""
    from training.judge import trainer

    jobs = []
    monkeypatch.setattr(trainer, "train_job", lambda job: jobs.append(job) or {"ok": True})
    data = tmp_path / "pairs"
    assert trainer.train_judge(tiny_config, dataset_dir / "tokenizer", tmp_path / "judge", data, scenarios=20,
                               seed=2) == {"ok": True}
    first = (data / "train.jsonl").stat().st_mtime_ns
    trainer.train_judge(tiny_config, dataset_dir / "tokenizer", tmp_path / "judge", data, scenarios=20, seed=2)
    assert (data / "train.jsonl").stat().st_mtime_ns == first
    trainer.train_judge(tiny_config, dataset_dir / "tokenizer", tmp_path / "judge", data, scenarios=24, seed=2)
    assert json.loads((data / "train.jsonl").read_text().splitlines()[0])["total_scenarios"] == 24
    assert len(jobs) == 3 and jobs[0].config.role == "judge" and jobs[0].data_dir == data
