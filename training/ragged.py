"""Ragged training batches: a collated batch's sequences end to end in one row, cut to what a target needs.

A padded batch computes every row to the batch's width, and a row's tokens after its last target feed
no loss (a target reads only what comes before it). The toy teacher's rows are ~59 targets in 384
tokens, the last of them ~100 tokens before the row's end on average: about a quarter of a step's
tokens were padding or trailing context, and attention ran over the full padded width.

`ragged_batch` keeps each row's needed tokens (those with a target and every token a target attends
to) and lays the sequences end to end, each keeping its own positions (RoPE is unchanged) and, for a
parallel drafter, its own attention mask (training/parallel_draft.py); the model attends within each
sequence (`modeling.model.Ragged`). Every target's logits are those of the padded batch up to float
summation order, so the loss, a sum over targets, and its gradients are the same.

Shapes stay few (a bf16 matmul on a CPU builds a kernel per shape, modeling/model.py): each sequence is
rounded up to SEGMENT_BUCKET tokens and the row to ROW_TOKENS_BUCKET, with filler tokens that have no
target and that no real token sees.
"""

from __future__ import annotations

import torch
from torch import Tensor

from modeling.model import Ragged, bucket
from training.losses import IGNORE

SEGMENT_BUCKET = 16  # tokens of one sequence
ROW_TOKENS_BUCKET = 128  # tokens of the whole ragged row


def row_bounds(counts: list[int]) -> list[tuple[int, int]]:
    """Where sequences of `counts` tokens lie in one ragged row: each rounded up to SEGMENT_BUCKET tokens
    (at least one), end to end, then, when the row's length is not a multiple of ROW_TOKENS_BUCKET, one
    filler sequence (the extra last pair) that rounds it up."""
    bounds: list[tuple[int, int]] = []
    n = 0
    for count in counts:
        length = bucket(max(count, 1), SEGMENT_BUCKET)
        bounds.append((n, n + length))
        n += length
    total = bucket(max(n, 1), ROW_TOKENS_BUCKET)
    if total > n:
        bounds.append((n, total))
    return bounds


def needed_tokens(y: Tensor, attn: Tensor | None) -> list[Tensor]:
    """Per row, the ascending indexes of its tokens that have a target or that some target attends to
    (attn [B, 1, T, T]; None: causal, where that is every token up to the last target)."""
    target = y != IGNORE
    out = []
    for i in range(y.shape[0]):
        at = target[i].nonzero().squeeze(1)
        if not at.numel():
            out.append(at)
        elif attn is None:
            out.append(torch.arange(int(at[-1]) + 1))
        else:
            seen = torch.from_numpy(attn[i, 0].numpy()[at.numpy()].any(axis=0))  # numpy: 5x torch's bool gathers
            out.append((seen | target[i]).nonzero().squeeze(1))
    return out


def ragged_batch(
    x: Tensor, y: Tensor, w: Tensor, top_ids: Tensor | None, top_lps: Tensor | None, kd_mask: Tensor | None,
    positions: Tensor | None = None, attn: Tensor | None = None, pad_id: int = 0,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None, Tensor | None, Tensor, Ragged]:
    """A collated batch (kd_data.collate's six tensors, plus a parallel drafter's positions [B, T] and
    attention mask [B, 1, T, T]; causal and at 0..T-1 when None) -> the same six as [1, N] (top-k [1, N, k]),
    positions [N] and the `Ragged` layout for the model. Rows without a target are left out."""
    b, t = x.shape
    if positions is None:
        positions = torch.arange(t).expand(b, t)
    kept = [(i, keep) for i, keep in enumerate(needed_tokens(y, attn)) if keep.numel()]
    bounds = row_bounds([keep.numel() for _, keep in kept])
    rows: list[Tensor] = []
    cols: list[Tensor] = []
    masks: list[Tensor | None] = []
    for (i, keep), (start, end) in zip(kept, bounds[: len(kept)], strict=True):
        count, length = keep.numel(), end - start
        rows.append(torch.cat([torch.full((count,), i), torch.full((length - count,), -1)]))
        cols.append(torch.cat([keep, keep.new_zeros(length - count)]))
        if attn is None:  # fillers come last: they see the sequence, nothing sees them
            masks.append(None)
        else:  # the sequence's own mask on its kept tokens; fillers see themselves only
            m = torch.eye(length, dtype=torch.bool)
            kept_at = keep.numpy()
            m[:count, :count] = torch.from_numpy(attn[i, 0].numpy()[kept_at][:, kept_at])
            masks.append(m)
    if len(bounds) > len(kept):  # the filler sequence that rounds the row
        start, end = bounds[-1]
        rows.append(torch.full((end - start,), -1))
        cols.append(torch.zeros(end - start, dtype=torch.long))
        masks.append(None if attn is None else torch.ones(end - start, end - start, dtype=torch.bool).tril())
    src_row, src_col = torch.cat(rows), torch.cat(cols)
    filler = src_row < 0
    index = (src_row.clamp(min=0), src_col)

    def take(v: Tensor | None, fill: float | int | bool) -> Tensor | None:
        if v is None:
            return None
        out = v[index]
        keep = ~filler.view(-1, *([1] * (out.dim() - 1)))
        return torch.where(keep, out, torch.full((), fill, dtype=v.dtype))[None]

    layout = Ragged(tuple(bounds), tuple(masks))
    return (take(x, pad_id), take(y, IGNORE), take(w, 0.0), take(top_ids, 0),  # type: ignore[return-value]
            take(top_lps, 0.0), take(kd_mask, False), take(positions, 0)[0], layout)  # type: ignore[index]


def ragged_rows(seqs: list[list[int]], pad_id: int) -> tuple[Tensor, Tensor, Ragged, Tensor]:
    """Token sequences (each read whole, as the judge reads a plea) end to end in one causal ragged row:
    (ids [1, N], positions [N], layout, the index of each sequence's last token [S]), with the same
    rounding as `ragged_batch`."""
    bounds = row_bounds([len(seq) for seq in seqs])
    ids: list[int] = []
    positions: list[int] = []
    for seq, (start, end) in zip(seqs, bounds[: len(seqs)], strict=True):
        fill = end - start - len(seq)
        ids += seq + [pad_id] * fill
        positions += list(range(len(seq))) + [0] * fill  # fillers at 0: any position in the table
    if len(bounds) > len(seqs):  # the filler sequence that rounds the row
        start, end = bounds[-1]
        ids += [pad_id] * (end - start)
        positions += [0] * (end - start)
    last = [start + max(len(seq), 1) - 1 for seq, (start, _) in zip(seqs, bounds[: len(seqs)], strict=True)]
    layout = Ragged(tuple(bounds), (None,) * len(bounds))
    return torch.tensor([ids]), torch.tensor(positions), layout, torch.tensor(last)
