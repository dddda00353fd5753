"""Quantization-aware training: int8 fake quantization with a straight-through estimator, and the fold.

`enable_fake_quant(model, cfg)` swaps, in place, every `nn.Linear` of the decoder and the LM head for a
`FakeQuantLinear` and the token embedding for a `FakeQuantEmbedding`. They keep the very same `weight`
Parameter (same state-dict names, same optimizer state, tied weights stay tied) and only change forward:

- weights: per-output-row symmetric int8, exactly `modeling.quant.fake_quantize` (= dequant(quant(w))),
  the scheme the int8 artifact stores and Core ML's `linear_quantize_weights` applies. The scale is the
  row's current max|w| / 127, recomputed every step (no observer state to checkpoint). Gradient: the
  straight-through estimator `w + (fq(w) - w).detach()`, identity (the row max maps to ±127, so nothing
  is ever clamped and the STE has no zero-gradient region).
- activations (the inputs of the linear layers), `cfg.activations`:
    fp16  rounded to fp16 and back: the deployment (Core ML computes in fp16 over int8 weights). Default.
    int8  per-tensor symmetric int8 with a dynamic scale max|x| / 127 of the current tensor (W8A8 as a
          dynamic-quantization runtime would do it; no EMA observer, so no state and nothing to calibrate).
    none  weights only.
  Both use the same STE. The embedding's output is not quantized (it is a gather, not a product).

The judge heads (a few hundred weights) stay in float, as in the int8 artifact. `fold(model)` returns the
int8 state dict (int8 matrices + `<name>.scale`) that `save_artifact(..., int8=True)` writes; loading it
(`load_artifact` dequantizes) reproduces the fake-quantized model's weights exactly.

Schedule: at step round(start_fraction * max_steps) the trainer enables fake quantization and the
learning rate becomes `qat_lr_at`: cosine from `qat.lr` to `qat.min_lr` over the remaining steps, no
warmup (the weights are already trained). The AdamW moments are kept: they estimate the gradient
statistics of the same weights, and the STE gradient is close to the float one, so the first QAT steps
are ordinary small steps at the lower rate rather than bias-corrected restarts. A run resumed at or past
the start step re-enters QAT before its first step (the switch is a function of the step alone).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modeling.config import QATConfig, TrainingConfig
from modeling.model import Transformer
from modeling.quant import QMAX, fake_quantize, quantize_state


def ste(x: Tensor, quantized: Tensor) -> Tensor:
    """Forward `quantized`, backward identity to `x`."""
    return x + (quantized - x).detach()


def fake_quant_weight(w: Tensor) -> Tensor:
    return ste(w, fake_quantize(w))


def fake_quant_activation(x: Tensor, mode: str) -> Tensor:
    if mode == "none":
        return x
    if mode == "fp16":
        return ste(x, x.to(torch.float16).to(x.dtype))
    if mode == "int8":
        scale = (x.detach().float().abs().amax() / QMAX).clamp_min(torch.finfo(torch.float32).tiny)
        return ste(x, (torch.clamp(torch.round(x.float() / scale), -QMAX, QMAX) * scale).to(x.dtype))
    raise ValueError(f"unknown activation fake-quant mode {mode!r}")


class FakeQuantLinear(nn.Linear):
    activations: str = "fp16"

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(fake_quant_activation(x, self.activations), fake_quant_weight(self.weight), self.bias)


class FakeQuantEmbedding(nn.Embedding):
    def forward(self, idx: Tensor) -> Tensor:
        # Per-row quantization commutes with the gather: quantize only the rows looked up.
        return fake_quant_weight(F.embedding(idx, self.weight, self.padding_idx))


def _targets(model: Transformer) -> list[nn.Module]:
    return [model.model.embed_tokens, model.lm_head,
            *(m for m in model.model.layers.modules() if isinstance(m, nn.Linear))]


def enable_fake_quant(model: Transformer, cfg: QATConfig) -> Transformer:
    """Turn on fake quantization in place (idempotent); returns `model`. Parameters are not touched."""
    if cfg.weight_bits != 8:
        raise ValueError(f"only 8-bit weights are supported, got weight_bits={cfg.weight_bits}")
    for module in _targets(model):
        if isinstance(module, nn.Embedding):
            module.__class__ = FakeQuantEmbedding
        else:
            module.__class__ = FakeQuantLinear
            module.activations = cfg.activations
    return model


def disable_fake_quant(model: Transformer) -> Transformer:
    for module in _targets(model):
        module.__class__ = nn.Embedding if isinstance(module, nn.Embedding) else nn.Linear
        module.__dict__.pop("activations", None)
    return model


def is_fake_quant(model: Transformer) -> bool:
    return isinstance(model.lm_head, FakeQuantLinear)


@torch.no_grad()
def fold(model: Transformer) -> dict[str, Tensor]:
    """The int8 state dict (int8 matrices + per-row fp32 `.scale`, everything else as is) of `model`."""
    return quantize_state({k: v.detach().cpu() for k, v in model.state_dict().items()})


def qat_lr_at(step: int, t: TrainingConfig) -> float:
    """Warmup-free cosine from qat.lr at the start step to qat.min_lr at max_steps."""
    if t.qat is None or t.qat_start_step is None:
        raise ValueError("no qat section in this training config")
    start = t.qat_start_step
    progress = (step - start) / max(1, t.max_steps - start)
    q = t.qat
    return q.min_lr + 0.5 * (q.lr - q.min_lr) * (1 + math.cos(math.pi * min(1.0, max(0.0, progress))))
