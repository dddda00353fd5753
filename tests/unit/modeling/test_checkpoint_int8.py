"""Int8 artifacts: int8 matrices + per-row scales on disk, float on load, hashes verified, ≤ 30% of fp32."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from modeling.checkpoint import ArtifactError, load_artifact, save_artifact, verify_artifact
from modeling.config import load_role_config
from modeling.model import Transformer
from modeling.quant import QMAX, SCHEME, dequantize, fake_quantize, quantize
from tests.unit.modeling.helpers import random_ids, role_config, tiny_model


def test_quantize_is_per_row_symmetric_and_requantizing_its_output_is_lossless():
    w = torch.randn(6, 40) * torch.linspace(0.01, 3.0, 6)[:, None]
    w[2] = 0.0  # an all-zero row must not divide by zero
    q, scale = quantize(w)
    assert q.dtype == torch.int8 and scale.shape == (6,)
    assert q.abs().amax(dim=1).tolist() == [QMAX, QMAX, 0, QMAX, QMAX, QMAX]
    assert torch.equal(dequantize(q, scale), fake_quantize(w))
    assert (dequantize(q, scale) - w).abs().le(scale[:, None] / 2 + 1e-7).all()  # half a step at most
    # An exporter applying the same scheme (Core ML linear_symmetric per-channel) finds the same grid.
    q2, scale2 = quantize(dequantize(q, scale))
    assert torch.equal(q2, q) and torch.allclose(scale2, scale, rtol=1e-6)
    q16, _ = quantize(dequantize(q, scale).half().float())  # even through an fp16 copy of the weights
    assert torch.equal(q16, q)


def test_int8_artifact_stores_int8_loads_as_the_quantized_model_and_keeps_float_vectors(tmp_path: Path):
    config = role_config("judge")
    model = tiny_model(role="judge")
    art = save_artifact(tmp_path / "a", model, config, int8=True)
    manifest = verify_artifact(art)
    assert manifest["quantization"] == SCHEME
    assert json.loads((art / "config.json").read_text())["quantization"] == SCHEME
    raw = load_file(str(art / "model.safetensors"))
    assert raw["model.layers.0.self_attn.q_proj.weight"].dtype == torch.int8
    assert raw["model.embed_tokens.weight"].dtype == torch.int8 and raw["lm_head.weight"].dtype == torch.int8
    assert raw["model.layers.0.self_attn.q_proj.weight.scale"].shape == (config.model.n_heads * config.model.d_head,)
    assert raw["model.norm.weight"].dtype == torch.float32
    assert raw["judge_heads.score.weight"].dtype == torch.float32  # heads stay float
    loaded, _ = load_artifact(art, role="judge")
    for name, tensor in model.state_dict().items():
        expected = tensor if tensor.dim() < 2 or name.startswith("judge_heads.") else fake_quantize(tensor)
        assert torch.equal(loaded.state_dict()[name], expected), name
    fp32, _ = load_artifact(save_artifact(tmp_path / "f", model, config), role="judge")
    ids = random_ids(model, 2, 12)
    assert torch.allclose(loaded(ids), fp32(ids), atol=0.05)  # close to the float model, not equal


def test_tied_embeddings_are_stored_once_in_int8(tmp_path: Path):
    config = role_config(tie_embeddings=True)
    model = tiny_model(tie_embeddings=True)
    art = save_artifact(tmp_path / "a", model, config, int8=True)
    assert "lm_head.weight" not in load_file(str(art / "model.safetensors"))
    loaded, _ = load_artifact(art)
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    assert torch.equal(loaded.lm_head.weight, fake_quantize(model.model.embed_tokens.weight.detach()))


def test_int8_artifact_is_at_most_30_percent_of_fp32_at_the_tiny_scale(tmp_path: Path):
    config = load_role_config("worker_tiny")
    torch.manual_seed(0)
    model = Transformer(config.model)
    fp32 = save_artifact(tmp_path / "fp32", model, config) / "model.safetensors"
    int8 = save_artifact(tmp_path / "int8", model, config, int8=True) / "model.safetensors"
    assert int8.stat().st_size <= 0.30 * fp32.stat().st_size


def test_tampered_or_inconsistent_int8_artifacts_are_refused(tmp_path: Path):
    config = role_config()
    art = save_artifact(tmp_path / "a", tiny_model(), config, int8=True)
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["quantization"] = {"weights": "int4", "scheme": "per_group"}
    (art / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="unsupported quantization"):
        load_artifact(art)
    manifest["quantization"] = None  # int8 weights read as float would be garbage: the scales are unexpected
    (art / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="unexpected"):
        load_artifact(art)
    weights = art / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        verify_artifact(art)
