"""bf16 only where the hardware computes it: configs ask for bf16, the machine decides.

The toy configs train under bf16 autocast. Where the CPU computes bf16 natively it pays, by how much
depends on the CPU (docs/benchmarks.md: on an AMD Zen 4 with AVX512-BF16 and no AMX the toy bootstrap took
13 min 44 s in bf16 and 14 min 12 s in fp32, the judge's steps 1.5x faster, the teacher's 6 % slower). A
CPU without native bf16 (an AVX2-only x86, for example) has oneDNN emulate it: a bf16 matmul there
took 13x as long as fp32 (3072x128 @ 128x384, one thread, AMD EPYC with AVX2). So "bf16" means bf16
where oneDNN has a bf16 path (or on a GPU), fp32 elsewhere, with a warning once per process; the
trainers record the precision they used. Set KS_FORCE_BF16=1 to keep bf16 anyway (to reproduce a
bf16 run's numerics on such a CPU, slowly).

Attention is the exception inside bf16 training: PyTorch's CPU attention in bf16 is slower than in fp32
on every CPU measured, so under bf16 autocast `attention_dtype` runs attention in fp32 and leaves the
projections in bf16. Forward and backward on real batches (docs/benchmarks.md): AMD Zen 4 (AVX512-BF16, no
AMX), 8 causal sequences of 190-384 tokens, 17.4 ms bf16 against 12.1 ms fp32; Intel Xeon with AMX
(`bench/bench_ragged.py --attention`), a teacher step 89.3 against 69.2 ms, a parallel drafter's (masked
rows) 303.4 against 107.5 ms, a judge's 197.4 against 157.2 ms.
"""

from __future__ import annotations

import logging
import os
from functools import cache

import torch

log = logging.getLogger(__name__)


@cache
def cpu_has_fast_bf16() -> bool:
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def attention_dtype(dtype: torch.dtype, device: str | torch.device = "cpu") -> torch.dtype:
    """The dtype attention runs in for activations of `dtype`: fp32 for bf16 under CPU autocast (training),
    else `dtype` itself (see the module docstring). A model loaded in bf16 (a local
    teacher's capture, decoding) keeps bf16 attention: a decode step would cast its whole KV cache."""
    if dtype == torch.bfloat16 and torch.device(device).type == "cpu" and torch.is_autocast_enabled("cpu"):
        return torch.float32
    return dtype


def bf16_pays(device: str | torch.device = "cpu") -> bool:
    if torch.device(device).type != "cpu" or os.environ.get("KS_FORCE_BF16") == "1":
        return True
    return cpu_has_fast_bf16()


def effective_precision(requested: str, device: str | torch.device = "cpu") -> str:
    """The precision to train in: `requested` ("fp32" | "bf16"), except bf16 on a CPU without it."""
    if requested != "bf16" or bf16_pays(device):
        return requested
    _warn_once()
    return "fp32"


def effective_dtype(requested: str, device: str | torch.device = "cpu") -> str:
    """The same rule for a model loaded in a dtype name ("float32" | "bfloat16")."""
    if requested != "bfloat16" or bf16_pays(device):
        return requested
    _warn_once()
    return "float32"


@cache
def _warn_once() -> None:
    log.warning("bf16 requested, but this CPU has no native bf16 matmuls (%s): running in fp32 "
                "(set KS_FORCE_BF16=1 to keep bf16)", torch.backends.cpu.get_cpu_capability())
