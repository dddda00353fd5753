"""Artifacts: atomic, hash-verified, loadable by transformers with our logits, judge heads kept."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models

from kimi_student import __version__
from modeling.checkpoint import (
    ArtifactError,
    check_tokenizer_vocab,
    hf_config,
    load_artifact,
    save_artifact,
    sha256_file,
    verify_artifact,
)
from modeling.model import Transformer
from tests.unit.modeling.helpers import random_ids, role_config, tiny_model

TOL = 1e-4


def save(tmp_path: Path, role: str = "worker", name: str = "artifact", **overrides) -> Path:
    config = role_config(role, **overrides)
    torch.manual_seed(0)
    return save_artifact(tmp_path / name, Transformer(config.model), config, metrics={"val_loss": 1.5})


def write_tokenizer(directory: Path, vocab_size: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    Tokenizer(models.WordLevel({f"t{i}": i for i in range(vocab_size)}, unk_token="t0")).save(
        str(directory / "tokenizer.json")
    )
    (directory / "tokenizer_config.json").write_text('{"chat_template": "{{ messages }}"}')
    return directory


def test_layout_and_manifest(tmp_path: Path):
    tok = write_tokenizer(tmp_path / "tok", 97)
    config = role_config()
    model = tiny_model()
    out = save_artifact(
        tmp_path / "a", model, config, tokenizer_dir=tok, metrics={"loss": 2.0}, dataset_fingerprint="sha256:abc"
    )
    names = {p.name for p in out.iterdir()}
    assert names == {
        "config.json",
        "model.safetensors",
        "role_config.yaml",
        "manifest.json",
        "tokenizer.json",
        "tokenizer_config.json",
    }
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["role"] == "worker" and manifest["code_version"] == __version__
    assert manifest["weights_sha256"] == sha256_file(out / "model.safetensors")
    assert manifest["config_sha256"] == sha256_file(out / "role_config.yaml")
    assert manifest["tokenizer_sha256"] == sha256_file(tok / "tokenizer.json")
    assert manifest["dataset_fingerprint"] == "sha256:abc" and manifest["metrics"] == {"loss": 2.0}
    assert manifest["parameters"] == sum(p.numel() for p in model.parameters())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


@torch.no_grad()
def test_round_trip_gives_identical_logits(tmp_path: Path):
    out = save(tmp_path, tie_embeddings=True)
    model, config = load_artifact(out, role="worker")
    reference = tiny_model(tie_embeddings=True)
    idx = random_ids(model, 2, 20)
    assert torch.equal(model(idx), reference(idx))
    assert config == role_config(tie_embeddings=True)
    assert model.lm_head.weight is model.model.embed_tokens.weight  # still tied after loading


@torch.no_grad()
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"tie_embeddings": True},
        {"n_kv_heads": 1},
        {"n_kv_heads": 4},
        {"rope_scaling": {"type": "linear", "factor": 2.0}},
        {"rope_scaling": {"type": "llama3", "factor": 8.0, "original_max_position_embeddings": 16}},
    ],
    ids=["untied", "tied", "mqa", "mha", "linear-rope", "llama3-rope"],
)
def test_transformers_loads_the_artifact_with_our_logits(tmp_path: Path, overrides: dict):
    from transformers import AutoModelForCausalLM

    out = save(tmp_path, **overrides)
    ours, _ = load_artifact(out)
    hf = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    idx = random_ids(ours, 2, 64)
    assert (hf(idx).logits - ours(idx)).abs().max() <= TOL


@torch.no_grad()
def test_transformers_ignores_judge_heads(tmp_path: Path):
    from transformers import AutoModelForCausalLM

    out = save(tmp_path, role="judge")
    ours, _ = load_artifact(out, role="judge")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    hf = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    idx = random_ids(ours, 1, 16)
    assert (hf(idx).logits - ours(idx)).abs().max() <= TOL


@torch.no_grad()
def test_judge_heads_round_trip(tmp_path: Path):
    out = save(tmp_path, role="judge")
    model, config = load_artifact(out, role="judge")
    reference = tiny_model(role="judge")
    idx = random_ids(model, 2, 12)
    assert config.role == "judge" and model.judge_heads is not None
    for a, b in zip(model.judge(idx), reference.judge(idx), strict=True):
        assert torch.equal(a, b)


def test_artifact_without_heads_refuses_to_load_as_a_judge(tmp_path: Path):
    out = save(tmp_path)
    with pytest.raises(ArtifactError, match="role is 'worker', expected 'judge'"):
        load_artifact(out, role="judge")


def test_judge_config_without_head_weights_is_refused(tmp_path: Path):
    """A judge artifact whose weights lost their heads (re-hashed to pass verification) is refused."""
    from safetensors.torch import load_file, save_file

    out = save(tmp_path, role="judge")
    weights = out / "model.safetensors"
    state = {k: v for k, v in load_file(str(weights)).items() if not k.startswith("judge_heads.")}
    save_file(state, str(weights), metadata={"format": "pt"})
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"]["model.safetensors"] = sha256_file(weights)
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="no judge heads"):
        load_artifact(out, role="judge")
    with pytest.raises(ArtifactError, match=r"missing \['judge_heads\.clause\.bias'"):
        load_artifact(out)


def test_edited_weight_bytes_are_detected(tmp_path: Path):
    out = save(tmp_path)
    weights = out / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"model\.safetensors: sha256 .* does not match"):
        load_artifact(out)


@pytest.mark.parametrize("name", ["model.safetensors", "role_config.yaml", "config.json"])
def test_missing_files_are_named(tmp_path: Path, name: str):
    out = save(tmp_path)
    (out / name).unlink()
    with pytest.raises(ArtifactError, match=rf"{name}: missing"):
        verify_artifact(out)


def test_missing_or_broken_manifest(tmp_path: Path):
    out = save(tmp_path)
    (out / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="unreadable manifest"):
        load_artifact(out)
    (out / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match=r"no manifest\.json"):
        load_artifact(out)


def test_tokenizer_vocab_mismatch_is_refused(tmp_path: Path):
    tok = write_tokenizer(tmp_path / "tok", 100)
    with pytest.raises(ArtifactError, match=r"tokenizer vocabulary has 100 tokens but model\.vocab_size is 97"):
        save_artifact(tmp_path / "a", tiny_model(), role_config(), tokenizer_dir=tok)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ArtifactError, match="has 32000 tokens"):
        check_tokenizer_vocab(32000, role_config())
    check_tokenizer_vocab(97, role_config().model)


def test_model_and_config_must_agree(tmp_path: Path):
    with pytest.raises(ArtifactError, match="not built from this role config"):
        save_artifact(tmp_path / "a", tiny_model(n_layers=1), role_config())


def test_saving_over_an_artifact_replaces_it_atomically(tmp_path: Path):
    out = save(tmp_path)
    first = sha256_file(out / "model.safetensors")
    with pytest.raises(TypeError):  # metrics that cannot be written: nothing changes on disk
        save_artifact(out, tiny_model(seed=5), role_config(), metrics={"bad": object()})
    assert sha256_file(out / "model.safetensors") == first
    save_artifact(out, tiny_model(seed=5), role_config())
    assert sha256_file(out / "model.safetensors") != first
    verify_artifact(out)
    assert [p.name for p in tmp_path.iterdir()] == ["artifact"]


def test_hf_config_fields():
    cfg = hf_config(role_config(rope_scaling={"type": "linear", "factor": 2.0}).model)
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["model_type"] == "llama"
    assert cfg["rope_scaling"] == {"rope_type": "linear", "factor": 2.0}
    assert cfg["rope_parameters"] == {"rope_type": "linear", "factor": 2.0, "rope_theta": 500.0}
    assert (cfg["pad_token_id"], cfg["bos_token_id"], cfg["eos_token_id"]) == (0, 1, 2)


def test_extra_files_are_hashed_with_the_artifact(tmp_path: Path):
    def trainer_state(directory: Path) -> None:
        torch.save({"step": 3}, directory / "trainer_state.pt")

    out = save_artifact(tmp_path / "a", tiny_model(), role_config(), write_extra=trainer_state)
    assert "trainer_state.pt" in verify_artifact(out)["files"]
    (out / "trainer_state.pt").write_bytes(b"truncated")
    with pytest.raises(ArtifactError, match=r"trainer_state\.pt: sha256"):
        load_artifact(out)
