"""Int8 weights: per-output-channel (per-row) symmetric quantization, shared by QAT and the artifact format.

A matrix W [out, in] is stored as int8 Q and one scale per row, s = max|W_row| / 127, Q = clamp(round(W / s),
-127, 127); it is read back as Q * s. Every row's largest entry maps to ±127, so re-quantizing the
dequantized matrix with the same rule gives back the same Q and (up to rounding) the same s: an exporter
that applies this scheme itself (Core ML's `linear_quantize_weights`, linear_symmetric per-channel) lands
on the grid QAT trained for.

Which tensors: every 2-D weight of the decoder and the LM head (embeddings included: in small models
they are most of the bytes). Norm weights, biases and the judge heads stay in float.
"""

from __future__ import annotations

import torch
from torch import Tensor

QMAX = 127  # symmetric: -127..127 (-128 unused, so the grid is symmetric around 0)
SCALE_SUFFIX = ".scale"
SCHEME = {"weights": "int8", "scheme": "per_channel_symmetric"}
FLOAT_PREFIXES = ("judge_heads.",)  # tiny heads: kept in float


def row_scale(w: Tensor) -> Tensor:
    """Per-row scale [out, 1] (fp32) of a matrix [out, in]; an all-zero row gets a tiny positive scale."""
    return (w.detach().float().abs().amax(dim=-1, keepdim=True) / QMAX).clamp_min(torch.finfo(torch.float32).tiny)


def quantize(w: Tensor) -> tuple[Tensor, Tensor]:
    """(int8 Q [out, in], fp32 scale [out]) of a float matrix."""
    scale = row_scale(w)
    q = torch.clamp(torch.round(w.detach().float() / scale), -QMAX, QMAX).to(torch.int8)
    return q, scale.squeeze(-1)


def dequantize(q: Tensor, scale: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    return (q.float() * scale.float()[:, None]).to(dtype)


def fake_quantize(w: Tensor) -> Tensor:
    """dequantize(quantize(w)) in w's dtype (no gradient rule: see training.qat for the STE)."""
    scale = row_scale(w)
    return (torch.clamp(torch.round(w.float() / scale), -QMAX, QMAX) * scale).to(w.dtype)


def is_quantized_key(name: str, tensor: Tensor) -> bool:
    return tensor.dim() == 2 and tensor.is_floating_point() and not name.startswith(FLOAT_PREFIXES)


def quantize_state(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A float state dict -> int8 matrices plus `<name>.scale` rows; everything else unchanged."""
    out: dict[str, Tensor] = {}
    for name, tensor in state.items():
        if is_quantized_key(name, tensor):
            out[name], out[name + SCALE_SUFFIX] = quantize(tensor)
        else:
            out[name] = tensor
    return out


def dequantize_state(state: dict[str, Tensor], dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """The inverse of `quantize_state`: int8 matrices with a `.scale` back to float, scales dropped."""
    out: dict[str, Tensor] = {}
    for name, tensor in state.items():
        if name.endswith(SCALE_SUFFIX) and name.removesuffix(SCALE_SUFFIX) in state:
            continue
        scale = state.get(name + SCALE_SUFFIX)
        if tensor.dtype == torch.int8 and scale is not None:
            out[name] = dequantize(tensor, scale, dtype)
        else:
            out[name] = tensor
    return out
