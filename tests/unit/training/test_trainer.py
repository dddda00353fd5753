"""The trainer's schedule, its refusals before training starts, and tool-call scoring."""

import json
import math
import shutil

import pytest
import torch
import yaml

from modeling.checkpoint import ArtifactError, load_artifact
from modeling.config import ConfigError, load_role_config, parse_role_config, resolve_config_path
from modeling.model import Transformer
from training.checkpoints import CheckpointError
from training.data.jsonl import DataError
from training.toolcall_eval import score_integration, score_turn, summarize
from training.trainer import TrainJob, _init_weights, lr_at, train


def _cfg(**training):
    data = load_role_config("worker_tiny").model_dump(mode="json")
    data["training"].update(training)
    return parse_role_config(data)


def test_lr_warms_up_then_decays_to_min_lr():
    cfg = _cfg(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=110, seq_len=[{"until_step": 110, "seq_len": 512}])
    assert lr_at(0, cfg) == pytest.approx(1e-4) and lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(60, cfg) == pytest.approx(1e-4 + 0.5 * 9e-4 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(110, cfg) == pytest.approx(1e-4)


def test_tool_call_scoring_is_bfcl_style():
    gold = [("web.search", {"q": "x", "top_k": 3})]
    assert score_turn('<|tool_call|>web.search<|tool_args|>{"top_k":3.0,"q":"x"}<|/tool_call|>', gold) == {
        "name": True, "args": True, "json_valid": True}
    assert score_turn('<|tool_call|>web.search<|tool_args|>{"q":"y","top_k":3}<|/tool_call|>', gold)["args"] is False
    assert score_turn('<|tool_call|>web.search<|tool_args|>{"q":<|/tool_call|>', gold)["json_valid"] is False
    assert score_turn("I will not call anything.", []) == {"no_call": True}
    two = [("read_file", {"path": "a"}), ("read_file", {"path": "b"})]
    swapped = ('<|tool_call|>read_file<|tool_args|>{"path":"b"}<|/tool_call|>'
               '<|tool_call|>read_file<|tool_args|>{"path":"a"}<|/tool_call|>')
    assert score_turn(swapped, two)["args"] is True  # parallel calls: order-insensitive


def _job(dataset_dir, tmp_path, cfg=None, **kw):
    return TrainJob(cfg or _cfg(max_steps=4, eval_every=2, warmup_steps=1), dataset_dir / "extracted.jsonl",
                    dataset_dir / "tokenizer", tmp_path / "out" / "worker", eval_turns=0, **kw)


def test_vocab_mismatch_is_refused_before_training(dataset_dir, tmp_path):
    data = load_role_config("worker_tiny").model_dump(mode="json")
    data["model"]["vocab_size"] = 1024
    with pytest.raises(ArtifactError, match="vocab"):
        train(_job(dataset_dir, tmp_path, parse_role_config(data)))
    assert not (tmp_path / "out").exists()


def test_training_writes_an_artifact_with_metrics_and_curves(dataset_dir, tmp_path):
    metrics = train(_job(dataset_dir, tmp_path))
    art = tmp_path / "out" / "worker"
    manifest = json.loads((art / "manifest.json").read_text())
    assert manifest["metrics"]["steps"] == 4 and len(metrics["history"]["train"]) == 4
    assert (art / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints" / "worker").iterdir()) == [
        "step-000002", "step-000004"]


def test_changed_data_or_corrupt_checkpoint_stop_a_resume(dataset_dir, tmp_path):
    train(_job(dataset_dir, tmp_path))
    ckpt = tmp_path / "out" / "checkpoints" / "worker"
    other = tmp_path / "other"
    shutil.copytree(dataset_dir, other)
    with open(other / "extracted.jsonl", "a") as f:
        f.write("\n")  # same samples, different bytes: a different dataset fingerprint
    job = _job(other, tmp_path, cfg=_cfg(max_steps=6, eval_every=2, warmup_steps=1))
    with pytest.raises(CheckpointError, match="another dataset"):
        train(job)
    job.force = True
    assert train(job)["steps"] == 6
    weights = ckpt / "step-000006" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointError, match=r"step-000006.*cannot resume"):
        train(_job(dataset_dir, tmp_path, cfg=_cfg(max_steps=8, eval_every=2, warmup_steps=1), force=True))


def test_unknown_config_keys_are_rejected_by_name(tmp_path):
    data = yaml.safe_load(resolve_config_path("worker_tiny").read_text())
    data["training"]["learning_rate"] = 0.1
    with pytest.raises(ConfigError, match=r"unknown key 'training\.learning_rate'"):
        parse_role_config(data, "x.yaml")


def test_init_from_starts_at_the_artifact_weights_and_refuses_another_architecture(dataset_dir, tmp_path):
    train(_job(dataset_dir, tmp_path))
    art = tmp_path / "out" / "worker"
    source, _ = load_artifact(art)
    model = Transformer(_cfg().model)
    calibration = torch.randint(3, model.config.vocab_size, (2, 32))
    _init_weights(model, art, dataset_dir / "tokenizer", calibration)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values(),
                                                 strict=True))
    resumed = train(_job(dataset_dir, tmp_path / "b", init_from=art, cfg=_cfg(max_steps=2, eval_every=2,
                                                                              warmup_steps=1, lr=1e-9, min_lr=0)))
    assert resumed["history"]["train"][0]["loss"] < 0.9 * _losses_from_scratch(dataset_dir, tmp_path)
    assert resumed["init_eval"]["val_loss"] > 0  # the starting weights were evaluated (before/after reports)
    data = load_role_config("worker_tiny").model_dump(mode="json")
    data["model"]["n_layers"] += 1
    with pytest.raises(ArtifactError, match="cannot start this model: only intermediate_size"):
        _init_weights(Transformer(parse_role_config(data).model), art, dataset_dir / "tokenizer", calibration)
    # a narrower MLP starts from the artifact pruned to it: attention and embeddings copied, and a far
    # lower first loss than from scratch
    narrow = _cfg(max_steps=2, eval_every=2, warmup_steps=1, lr=1e-9, min_lr=0)
    narrow = narrow.model_copy(update={"model": narrow.model.model_copy(update={"intermediate_size": 96})})
    pruned = train(_job(dataset_dir, tmp_path / "p", init_from=art, cfg=narrow))
    assert pruned["history"]["train"][0]["loss"] < 0.9 * _losses_from_scratch(dataset_dir, tmp_path)
    student, _ = load_artifact(tmp_path / "p" / "out" / "worker")
    assert torch.allclose(student.model.embed_tokens.weight, source.model.embed_tokens.weight, atol=1e-6)
    assert student.model.layers[0].mlp.up_proj.weight.shape == (96, source.config.d_model)


def _losses_from_scratch(dataset_dir, tmp_path) -> float:
    return train(_job(dataset_dir, tmp_path / "c", cfg=_cfg(max_steps=2, eval_every=2, warmup_steps=1)))[
        "history"]["train"][0]["loss"]


KD = {"alpha_ce": 0.5, "alpha_kl": 1.0, "temperature": 1.0, "tail": "uniform", "loss": "kl"}


def test_kd_training_distils_from_the_mix_and_resume_covers_the_mix(dataset_dir, kd_mix, tmp_path):
    cfg = _cfg(max_steps=4, eval_every=2, warmup_steps=1, kd=KD)
    metrics = train(_job(dataset_dir, tmp_path, cfg, kd_data=kd_mix))
    first = metrics["history"]["train"][0]
    assert metrics["kd"]["token_level"] and metrics["kd"]["heldout_dropped"] > 0
    assert first["loss"] == pytest.approx(0.5 * first["kd_ce"] + first["kd_div"], rel=1e-4)
    assert first["kd_div"] > 0 and first["kd_ce"] > first["kd_div"]
    load_artifact(tmp_path / "out" / "worker")  # the kd section round-trips through the artifact
    changed = tmp_path / "kd2.jsonl"
    changed.write_text(kd_mix.read_text() + "\n")
    with pytest.raises(CheckpointError, match="another dataset"):
        train(_job(dataset_dir, tmp_path, _cfg(max_steps=6, eval_every=2, warmup_steps=1, kd=KD), kd_data=changed))


def test_kd_refusals_and_the_sequence_level_fallback(dataset_dir, kd_mix, tmp_path):
    with pytest.raises(ConfigError, match="kd section but no --kd-data"):
        train(_job(dataset_dir, tmp_path, _cfg(max_steps=2, eval_every=2, warmup_steps=1, kd=KD)))
    with pytest.raises(ConfigError, match=r"needs a training\.kd section"):
        train(_job(dataset_dir, tmp_path, _cfg(max_steps=2, eval_every=2, warmup_steps=1), kd_data=kd_mix))
    with pytest.raises(ConfigError, match="jsd_beta"):
        _cfg(kd={**KD, "jsd_beta": 0.3})
    lines = kd_mix.read_text().splitlines()
    header = json.loads(lines[0])
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text("\n".join([json.dumps({**header, "source": {"path": "x", "fingerprint": "0" * 64}}),
                                  *lines[1:]]) + "\n")
    with pytest.raises(DataError, match="another dataset"):
        train(_job(dataset_dir, tmp_path, _cfg(max_steps=2, eval_every=2, warmup_steps=1, kd=KD), kd_data=foreign))
    seq = tmp_path / "seq.jsonl"
    rows = [{**json.loads(line), "teacher_topk": None} for line in lines[1:]]
    seq.write_text("\n".join(json.dumps(r) for r in [{**header, "mode": "sequence"}, *rows]) + "\n")
    cfg = _cfg(max_steps=2, eval_every=2, warmup_steps=1, kd={**KD, "loss": "jsd", "jsd_beta": 0.5})
    with pytest.warns(UserWarning, match="sequence-level"):
        metrics = train(_job(dataset_dir, tmp_path / "seq", cfg, kd_data=seq))
    assert not metrics["kd"]["token_level"] and "kd_div" not in metrics["history"]["train"][0]


def test_integration_f1_of_a_final_answer_is_grounded_in_its_tool_results(extracted_rows):
    _, rows = extracted_rows
    row = next(r for r in rows if r["metadata"]["integration_claims"] and r["metadata"]["lang"] == "en")
    last = len(row["messages"]) - 1
    gold = row["messages"][last]["content"] + "<|end|>"
    assert score_integration(gold, row, last)["integration_f1"] > 0.5
    made_up = score_integration("The figure is 123456789 zorblats.<|end|>", row, last)
    assert made_up == {"integration_f1": 0.0, "integration_f1_strict": 0.0}
    scores = [score_turn("x", []) | score_integration(gold, row, last), score_turn("x", [])]
    summary = summarize(scores)
    assert summary["integration_turns"] == 1 and summary["integration_f1"] > 0.5
