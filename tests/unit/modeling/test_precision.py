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
