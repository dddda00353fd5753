"""Parallel drafting (PARD, An et al. 2025): a drafter that proposes several tokens in one forward.

An autoregressive drafter makes gamma forwards to propose gamma tokens. At toy size a drafter forward
costs what a worker forward costs (both are a few hundred dispatched ops on a d-128 model), so gamma
drafter calls plus one verification cost more than the tokens they save. A parallel drafter
(`model.parallel_draft = m`) proposes m + 1 tokens in one forward: after the real tokens it reads m pad
tokens at the next m positions, and its logits at the last real token and at each pad are its guesses
for the next m + 1 tokens (the engine's `_draft_parallel`). Speculative sampling stays lossless: each
draft is drawn from the drafter's distribution at its position, whatever that distribution was
conditioned on.

Training: every sequence keeps its ordinary next-token targets and gets `groups` cut points c (among
positions with a target). Each cut appends m pad tokens standing at positions c+1 .. c+m, whose targets
are the sequence's targets at c+1 .. c+m (tokens c+2 .. c+m+1, with their loss weights and teacher rows).
An explicit attention mask lets an appended pad see what it would see at inference, the real tokens up
to c and the earlier pads of its own group, and keeps pads invisible to real tokens: one forward trains
every group, and the real tokens' logits are those of a plain causal forward.
"""

from __future__ import annotations

import torch
from torch import Tensor

from training.losses import IGNORE


def sample_cuts(y: Tensor, groups: int, generator: torch.Generator) -> Tensor:
    """[B, G] cut positions: distinct positions with a target, drawn uniformly per row (G =
    min(groups, T)); -1 where a row has fewer target positions than G."""
    candidates = y != IGNORE
    scores = torch.rand(y.shape, generator=generator).masked_fill(~candidates, -1.0)
    top, cuts = scores.topk(min(groups, y.shape[1]), dim=1)
    return cuts.masked_fill(top < 0, -1)


def add_draft_groups(x: Tensor, cuts: Tensor, masks: int, mask_id: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """x [B, T], cuts [B, G] (-1: no group) -> (x2 [B, T2], positions [B, T2], attn [B, 1, T2, T2], source
    [B, T2]) with T2 = T + G * masks. Token T + g * masks + (j - 1) of x2 is pad j (1..masks) of group g,
    at position cuts[g] + j. source[b, i] is the position of x whose target token i of x2 is trained
    to predict (-1: none): i itself for the real tokens, cut + j for pad j (when inside the sequence)."""
    b, t = x.shape
    g = cuts.shape[1]
    j = torch.arange(1, masks + 1).repeat(g)  # [G*m]: pad index within its group
    group = torch.arange(g).repeat_interleave(masks)  # [G*m]
    valid = cuts >= 0
    pad_cut = cuts[:, group]  # [B, G*m]
    pad_pos = pad_cut.clamp(min=0) + j
    positions = torch.cat([torch.arange(t).expand(b, t), pad_pos], dim=1)
    x2 = torch.cat([x, torch.full((b, g * masks), mask_id, dtype=x.dtype)], dim=1)
    pad_source = torch.where(valid[:, group] & (pad_pos < t), pad_pos, -1)
    source = torch.cat([torch.arange(t).expand(b, t), pad_source], dim=1)
    # Real keys: query i sees real token s when s <= limit[i] (its own position for a real token, the
    # cut for a pad; -1 for a pad without a group, which then sees its own group only).
    limit = torch.cat([torch.arange(t).expand(b, t), pad_cut], dim=1)  # [B, T2]
    sees_real = torch.arange(t)[None, None, :] <= limit[:, :, None]  # [B, T2, T]
    is_pad = torch.cat([torch.zeros(t, dtype=torch.bool), torch.ones(g * masks, dtype=torch.bool)])
    q_group = torch.cat([torch.full((t,), -1), group])
    q_j = torch.cat([torch.zeros(t, dtype=torch.long), j])
    sees_pad = is_pad[:, None] & (q_group[:, None] == group[None, :]) & (j[None, :] <= q_j[:, None])  # [T2, G*m]
    attn = torch.cat([sees_real, sees_pad.expand(b, -1, -1)], dim=2)[:, None]
    return x2, positions, attn, source


def gather_targets(values: Tensor, source: Tensor, fill: float | int | bool) -> Tensor:
    """values [B, T, ...] per original position -> [B, T2, ...] per token of x2 (`fill` where source is -1)."""
    index = source.clamp(min=0)
    index = index.view(*index.shape, *([1] * (values.dim() - 2))).expand(-1, -1, *values.shape[2:])
    out = values.gather(1, index)
    keep = (source >= 0).view(*source.shape, *([1] * (values.dim() - 2)))
    return torch.where(keep, out, torch.full((), fill, dtype=values.dtype))


def parallel_batch(
    x: Tensor, y: Tensor, w: Tensor, top_ids: Tensor | None, top_lps: Tensor | None, kd_mask: Tensor | None,
    masks: int, groups: int, mask_id: int, generator: torch.Generator,
) -> tuple[Tensor, ...]:
    """A collated batch (kd_data.collate's six tensors) with draft groups appended: (x2, y2, w2, top ids,
    top logprobs, kd mask, positions, attn); the teacher tensors stay None when they were."""
    cuts = sample_cuts(y, groups, generator)
    x2, positions, attn, source = add_draft_groups(x, cuts, masks, mask_id)
    y2 = gather_targets(y, source, IGNORE)
    w2 = gather_targets(w, source, 0.0) * (y2 != IGNORE)
    teacher = [None if v is None else gather_targets(v, source, fill)
               for v, fill in ((top_ids, 0), (top_lps, 0.0), (kd_mask, False))]
    return (x2, y2, w2, *teacher, positions, attn)
