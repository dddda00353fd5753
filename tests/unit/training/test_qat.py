"""QAT: straight-through fake quantization, the fold to int8, the schedule switch and resume in QAT mode."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from conversion.source import load_source
from modeling.checkpoint import load_artifact, save_artifact
from modeling.config import ConfigError, QATConfig, load_role_config, parse_role_config
from modeling.quant import SCALE_SUFFIX, dequantize, fake_quantize, quantize
from tests.unit.modeling.helpers import random_ids, role_config, tiny_model
from training import qat
from training.trainer import TrainJob, lr_at, train

NO_ACT = QATConfig(start_fraction=0.0, lr=1e-4, activations="none")


@pytest.mark.parametrize("mode", ["none", "fp16", "int8"])
def test_ste_gradient_is_the_identity(mode: str):
    w = (torch.randn(8, 16) * 0.3).requires_grad_()
    upstream = torch.randn(8, 16)
    (qat.fake_quant_weight(w) * upstream).sum().backward()
    assert torch.equal(w.grad, upstream)
    x = (torch.randn(3, 5, 16) * 4).requires_grad_()
    y = qat.fake_quant_activation(x, mode)
    (y * 2.0).sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 2.0))
    if mode == "int8":  # on a 255-level grid of the tensor's max
        step = x.detach().abs().amax() / 127
        assert torch.allclose(y / step, torch.round(y / step), atol=1e-4) and not torch.equal(y, x)
    if mode == "fp16":
        assert torch.equal(y, x.detach().half().float())


def test_fake_quant_output_is_dequant_of_quant():
    w = torch.randn(12, 20)
    q, scale = quantize(w)
    assert torch.equal(qat.fake_quant_weight(w.clone().requires_grad_()).detach(), dequantize(q, scale))
    emb = nn.Embedding(12, 20)
    emb.weight.data.copy_(w)
    emb.__class__ = qat.FakeQuantEmbedding
    idx = torch.tensor([[3, 0, 11]])
    assert torch.equal(emb(idx).detach(), dequantize(q, scale)[idx])  # gather-then-quantize == quantize-then-gather


def test_enable_swaps_modules_in_place_keeping_parameters_and_names():
    model = tiny_model(tie_embeddings=True, role="judge")
    params, keys = [id(p) for p in model.parameters()], list(model.state_dict())
    ids = random_ids(model, 2, 10)
    before = model(ids)
    qat.enable_fake_quant(model, QATConfig(start_fraction=0.0, lr=1e-4, activations="int8"))
    assert qat.is_fake_quant(model) and isinstance(model.model.layers[1].mlp.down_proj, qat.FakeQuantLinear)
    assert model.model.layers[0].self_attn.q_proj.activations == "int8"
    assert type(model.judge_heads.score) is nn.Linear  # the heads stay float
    assert [id(p) for p in model.parameters()] == params and list(model.state_dict()) == keys
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert not torch.allclose(model(ids), before, atol=1e-6)
    qat.disable_fake_quant(model)
    assert torch.equal(model(ids), before)


def test_fold_then_load_reproduces_the_fake_quant_logits(tmp_path: Path):
    config = role_config()
    model = tiny_model()
    qat.enable_fake_quant(model, NO_ACT)
    ids = random_ids(model, 2, 16)
    with torch.no_grad():
        expected = model(ids)
    folded = qat.fold(model)
    name = "model.layers.0.mlp.up_proj.weight"
    assert folded[name].dtype == torch.int8 and name + SCALE_SUFFIX in folded
    assert torch.equal(dequantize(folded[name], folded[name + SCALE_SUFFIX]), fake_quantize(model.state_dict()[name]))
    art = save_artifact(tmp_path / "int8", model, config, int8=True)
    assert set(load_file(str(art / "model.safetensors"))) == set(folded)
    loaded, _ = load_artifact(art)
    with torch.no_grad():
        assert torch.allclose(loaded(ids), expected, atol=1e-5, rtol=0)
    # conversion (ONNX, Core ML) reads the same float model through load_source
    assert torch.allclose(load_source(art).model(ids), expected, atol=1e-5, rtol=0)


def test_qat_config_is_strict_and_must_leave_qat_steps():
    data = load_role_config("worker_tiny").model_dump(mode="json")
    data["training"]["qat"] = {"start_fraction": 1.0, "lr": 1e-4}
    with pytest.raises(ConfigError, match="no QAT step"):
        parse_role_config(data)
    data["training"]["qat"] = {"start_fraction": 0.5, "lr": 1e-4, "bits": 4}
    with pytest.raises(ConfigError, match=r"unknown key 'training\.qat\.bits'"):
        parse_role_config(data)
    data["training"]["qat"] = {"start_fraction": 0.5, "lr": 1e-4, "weight_bits": 4}
    with pytest.raises(ConfigError, match="weight_bits"):
        parse_role_config(data)
    for name in ("worker_tiny_qat", "worker_toy_qat"):
        assert load_role_config(name).training.qat is not None


def _cfg(**qat_section):
    data = load_role_config("worker_tiny").model_dump(mode="json")
    data["training"].update(max_steps=4, eval_every=2, warmup_steps=1, lr=1e-3, min_lr=1e-4, batch_size=1,
                            seq_len=[{"until_step": 4, "seq_len": 320}])
    data["training"]["qat"] = {"lr": 2e-4, "min_lr": 2e-5, **qat_section}
    return parse_role_config(data)


def test_lr_switches_to_a_warmup_free_cosine_at_the_start_step():
    cfg = _cfg(start_fraction=0.5)
    assert cfg.training.qat_start_step == 2
    assert lr_at(1, cfg) > 2e-4  # still the float schedule
    assert lr_at(2, cfg) == pytest.approx(2e-4)
    assert lr_at(3, cfg) == pytest.approx(2e-5 + 0.5 * 1.8e-4 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(4, cfg) == pytest.approx(2e-5)


def _job(dataset_dir: Path, out: Path, cfg) -> TrainJob:
    return TrainJob(cfg, dataset_dir / "extracted.jsonl", dataset_dir / "tokenizer", out / "worker", eval_turns=0)


def test_qat_run_writes_an_int8_artifact_and_a_resume_past_the_switch_stays_in_qat(dataset_dir: Path, tmp_path: Path):
    cfg = _cfg(start_fraction=0.25, activations="fp16")  # switch at step 1; checkpoints at 2 and 4
    full = train(_job(dataset_dir, tmp_path / "a", cfg))
    art = tmp_path / "a" / "worker"
    assert json.loads((art / "manifest.json").read_text())["quantization"]["weights"] == "int8"
    assert [h["lr"] for h in full["history"]["train"]] == [lr_at(s, cfg) for s in range(4)]
    load_artifact(art)
    # Interrupted after step 2: drop the last checkpoint and the artifact, then resume from step 2.
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "worker" / "step-000004")
    shutil.rmtree(tmp_path / "b" / "worker")
    resumed = train(_job(dataset_dir, tmp_path / "b", cfg))
    assert [h["loss"] for h in resumed["history"]["train"]] == [h["loss"] for h in full["history"]["train"]]
    a, b = (load_file(str(d / "worker" / "model.safetensors")) for d in (tmp_path / "a", tmp_path / "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
