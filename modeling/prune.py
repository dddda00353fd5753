"""Structured width pruning: a trained model cut down to a smaller config of the same family.

A distilled student starts better from its teacher's weights than from noise when it is the same
architecture with fewer SwiGLU hidden units (Minitron: prune by activation importance, then
distil). Here the only dimension that may shrink is `intermediate_size`: every other field of the
config, the attention (which carries the copy circuit of the toy models) and the embeddings stay
as they are. A hidden unit's importance is the mean magnitude of its activation
`silu(gate(x)) * up(x)` over calibration tokens, times the norm of its `down_proj` column (what it
can write into the residual stream); each layer keeps its most important units, in their original
order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from modeling.config import ModelConfig
from modeling.model import FeedForward, Transformer


class PruneError(ValueError):
    """The target config is not a width-pruned version of the source's."""


# The fields a pruned config may change: the width that shrinks, and parallel_draft, which shapes no
# weight (a worker starts a parallel drafter, modeling.config, as it is).
FREE = ("intermediate_size", "parallel_draft")


def check_prunable(source: ModelConfig, target: ModelConfig) -> None:
    differing = sorted(k for k, v in source.model_dump().items() if k not in FREE and target.model_dump()[k] != v)
    if differing:
        raise PruneError(f"only intermediate_size can shrink; the configs also differ in {', '.join(differing)}")
    if target.intermediate_size > source.intermediate_size:
        raise PruneError(f"intermediate_size {target.intermediate_size} is larger than the source's "
                         f"{source.intermediate_size}")


@torch.no_grad()
def unit_importance(model: Transformer, calibration: Tensor) -> list[Tensor]:
    """Per layer, [intermediate_size] importance of each SwiGLU hidden unit on `calibration` [B, T]."""
    sums: list[Tensor] = []
    hooks = []

    def record(mlp: FeedForward, inputs: tuple[Tensor, ...], _: Tensor) -> None:
        x = inputs[0]
        act = F.silu(mlp.gate_proj(x)) * mlp.up_proj(x)
        sums.append(act.abs().float().mean(dim=(0, 1)) * mlp.down_proj.weight.float().norm(dim=0))

    for layer in model.model.layers:
        hooks.append(layer.mlp.register_forward_hook(record))
    was_training = model.training
    model.eval()
    try:
        model.hidden_states(calibration)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return sums


@torch.no_grad()
def prune(source: Transformer, target: ModelConfig, calibration: Tensor) -> Transformer:
    """A new `Transformer(target)` holding `source`'s weights with each layer's least important
    SwiGLU units removed (importance measured on `calibration` token ids [B, T])."""
    check_prunable(source.config, target)
    pruned = Transformer(target)
    state = source.state_dict()
    for i, importance in enumerate(unit_importance(source, calibration)):
        keep = importance.topk(target.intermediate_size).indices.sort().values
        prefix = f"model.layers.{i}.mlp."
        for name in ("gate_proj", "up_proj"):
            state[f"{prefix}{name}.weight"] = state[f"{prefix}{name}.weight"][keep]
        state[f"{prefix}down_proj.weight"] = state[f"{prefix}down_proj.weight"][:, keep]
    pruned.load_state_dict(state)
    return pruned
