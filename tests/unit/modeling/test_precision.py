"""bf16 is used only where the machine computes it natively (modeling/precision.py)."""

from __future__ import annotations

import pytest
import torch

from modeling import precision


@pytest.fixture(params=[True, False], ids=["native-bf16", "no-bf16"])
def cpu_bf16(request, monkeypatch) -> bool:
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: request.param)
    monkeypatch.delenv("KS_FORCE_BF16", raising=False)
    return request.param


def test_bf16_only_on_a_cpu_that_has_it(cpu_bf16: bool):
    assert precision.effective_precision("bf16", "cpu") == ("bf16" if cpu_bf16 else "fp32")
    assert precision.effective_dtype("bfloat16", "cpu") == ("bfloat16" if cpu_bf16 else "float32")
    assert precision.effective_precision("fp32", "cpu") == "fp32"
    assert precision.effective_dtype("float32", "cpu") == "float32"


def test_gpus_and_the_override_keep_bf16(cpu_bf16: bool, monkeypatch):
    assert precision.effective_precision("bf16", "cuda") == "bf16"
    monkeypatch.setenv("KS_FORCE_BF16", "1")
    assert precision.effective_precision("bf16", "cpu") == "bf16"


def test_the_probe_answers_what_onednn_reports():
    precision.cpu_has_fast_bf16.cache_clear()
    assert precision.cpu_has_fast_bf16() is bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def test_bf16_training_attends_in_fp32_on_a_cpu():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert precision.attention_dtype(torch.bfloat16, "cpu") == torch.float32
        assert precision.attention_dtype(torch.float32, "cpu") == torch.float32
        assert precision.attention_dtype(torch.float16, "cpu") == torch.float16
        assert precision.attention_dtype(torch.bfloat16, "cuda") == torch.bfloat16
    assert precision.attention_dtype(torch.bfloat16, "cpu") == torch.bfloat16  # a bf16 model, no autocast


def test_attention_runs_in_fp32_under_bf16_autocast():
    """grouped_attention and a ragged row's attention compute in fp32 and hand back q's dtype under bf16
    autocast (which would otherwise cast SDPA's inputs back to bf16)."""
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    from modeling.model import attention_bias, grouped_attention, ragged_attention

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, h, 24, 32, generator=g).to(torch.bfloat16) for h in (4, 2, 2))
    mask = torch.ones(24, 24, dtype=torch.bool).tril()[None, None]
    f32 = torch.float32
    expected = sdpa(q.to(f32), k.to(f32).repeat_interleave(2, 1), v.to(f32).repeat_interleave(2, 1), attn_mask=mask)
    expected = expected.transpose(1, 2).reshape(1, 24, 128).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        grouped = grouped_attention(q, k, v, attention_bias(mask, 2, f32))
        ragged = ragged_attention(q, k, v, [(0, 24, 0, 24, None)])
    assert grouped.dtype == ragged.dtype == torch.bfloat16
    torch.testing.assert_close(grouped, expected, atol=0.0, rtol=0.0)  # exactly SDPA in fp32, rounded once
    torch.testing.assert_close(ragged.float(), expected.float(), atol=2e-2, rtol=2e-2)


def test_a_bf16_training_step_agrees_with_bf16_or_fp32_attention(monkeypatch):
    """Under bf16 autocast the loss and gradients of a ragged training forward are the same up to bf16
    rounding whichever dtype attention runs in."""
    from modeling import model as model_module
    from modeling.model import Ragged
    from tests.unit.modeling.helpers import random_ids, tiny_model

    model = tiny_model()
    idx = random_ids(model, 1, 40)
    pos = torch.cat([torch.arange(25), torch.arange(15)])
    layout = Ragged(((0, 25), (25, 40)), (None, None))
    results = []
    for dtype in (torch.bfloat16, torch.float32):
        monkeypatch.setattr(model_module, "attention_dtype", lambda *_, dtype=dtype: dtype)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(idx, pos, ragged=layout).float().logsumexp(-1).mean()
        results.append((loss, torch.autograd.grad(loss, list(model.parameters()))))
    (loss_bf16, grads_bf16), (loss_fp32, grads_fp32) = results
    torch.testing.assert_close(loss_fp32, loss_bf16, atol=2e-2, rtol=2e-2)
    for a, b in zip(grads_fp32, grads_bf16, strict=True):
        assert (a - b).abs().max() <= 5e-2 * max(1e-3, float(b.abs().max()))
