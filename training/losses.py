"""Distillation losses: pure functions of tensors, one value per position, no reductions.

Shapes: student logits `[B, T, V]`; the teacher's sparse top-k `ids` `[B, T, k]` (int) and
`logprobs` `[B, T, k]` (log-probabilities at the capture temperature); `mask` `[B, T]` (bool, the
positions that have a target). Position t holds the prediction of token t+1, so every tensor here
is already aligned to the *logits* position: the teacher row and the loss weight of target token j
sit at position j-1 (`kd_data.collate` and `sft_data.collate` do that shift, nothing here does).

Every function returns `[B, T]` float32, exactly 0.0 where `mask` is False (no NaN from padding can
leak through), so the caller weights and sums: `(per_pos * weights).sum() / weights.sum()`.

The teacher as a full distribution. A top-k row leaves the mass `1 - sum(p_topk)` unassigned;
`tail` says where it goes, which defines the teacher's implied distribution over all V tokens:

- `zero`: nowhere. The top-k probabilities are renormalised to sum to 1 and every other token
  has probability 0 (the teacher is taken as certain that the answer is among its top-k).
- `uniform`: spread evenly, each of the V-k other tokens gets `(1 - sum(p_topk)) / (V - k)`.

With k = V both are the teacher's dense distribution. Temperature τ is applied to that implied
distribution (p_i ∝ p_i^(1/τ), the same as dividing teacher logits by τ) and to the student
(softmax(z/τ)); KL-type losses are multiplied by τ² so their gradients keep the scale of τ = 1
(Hinton et al., 2015).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

Tail = Literal["zero", "uniform"]
IGNORE = -100


def _masked(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, values, torch.zeros((), dtype=values.dtype, device=values.device))


def _plogp_ratio(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """p * (log p - log q) elementwise, 0 where p == 0 (0 log 0 = 0, also against q == 0)."""
    p = logp.exp()
    return torch.where(p > 0, p * (logp - logq), torch.zeros((), dtype=logp.dtype, device=logp.device))


def teacher_topk_logprobs(logprobs: torch.Tensor, vocab_size: int, temperature: float, tail: Tail
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """The implied teacher distribution at `temperature`, kept sparse: (log p of the k listed ids
    `[B, T, k]`, log p of each single unlisted token `[B, T]`; -inf under `zero`)."""
    k = logprobs.shape[-1]
    lp = logprobs.float().clamp(max=0.0)
    if tail == "zero" or k >= vocab_size:
        top = torch.log_softmax(lp / temperature, dim=-1)
        return top, torch.full(lp.shape[:-1], -math.inf, device=lp.device)
    if tail != "uniform":
        raise ValueError(f"tail must be 'zero' or 'uniform', got {tail!r}")
    missing = (1.0 - lp.exp().sum(-1)).clamp(min=0.0)
    other = torch.log(missing) - math.log(vocab_size - k)  # log p of one unlisted token (-inf if none is missing)
    top, other = lp / temperature, other / temperature
    log_z = torch.logsumexp(torch.cat([top, (other + math.log(vocab_size - k)).unsqueeze(-1)], -1), dim=-1)
    return top - log_z.unsqueeze(-1), other - log_z


def dense_teacher_logprobs(ids: torch.Tensor, logprobs: torch.Tensor, vocab_size: int, temperature: float = 1.0,
                           tail: Tail = "zero") -> torch.Tensor:
    """The same implied distribution, materialised as `[B, T, V]` log-probabilities."""
    top, other = teacher_topk_logprobs(logprobs, vocab_size, temperature, tail)
    dense = other.unsqueeze(-1).expand(*other.shape, vocab_size).clone()
    return dense.scatter(-1, ids.long(), top)


def topk_kl(student_logits: torch.Tensor, ids: torch.Tensor, logprobs: torch.Tensor, mask: torch.Tensor,
            temperature: float = 1.0, tail: Tail = "zero") -> torch.Tensor:
    """Forward KL(teacher || student) per position over the whole vocabulary, teacher given sparsely.

    Computed without a dense teacher: sum over the k listed tokens, plus (uniform tail) the V-k
    unlisted tokens, which share one probability r, so their term is
    `(V-k) r log r - r (sum_all log q - sum_topk log q)`. Times τ²."""
    logq = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    return topk_kl_logprobs(logq, ids, logprobs, mask, temperature, tail)


def topk_kl_logprobs(logq: torch.Tensor, ids: torch.Tensor, logprobs: torch.Tensor, mask: torch.Tensor,
                     temperature: float = 1.0, tail: Tail = "zero") -> torch.Tensor:
    """`topk_kl` from the student's log-probabilities at `temperature` (one log-softmax shared with CE)."""
    vocab = logq.shape[-1]
    top, other = teacher_topk_logprobs(logprobs, vocab, temperature, tail)
    logq_top = logq.gather(-1, ids.long())
    kl = _plogp_ratio(top, logq_top).sum(-1)
    k = ids.shape[-1]
    if tail == "uniform" and k < vocab:
        r = other.exp()
        tail_logq = logq.sum(-1) - logq_top.sum(-1)
        tail_kl = (vocab - k) * r * other - r * tail_logq
        kl = kl + torch.where(r > 0, tail_kl, torch.zeros_like(tail_kl))
    return _masked(kl * temperature**2, mask)


def dense_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor,
             temperature: float = 1.0) -> torch.Tensor:
    """Forward KL(teacher || student) per position from two dense logit tensors, times τ²."""
    logq = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    logp = torch.log_softmax(teacher_logits.float() / temperature, dim=-1)
    return _masked(_plogp_ratio(logp, logq).sum(-1) * temperature**2, mask)


def generalized_jsd(student_logits: torch.Tensor, teacher_logprobs: torch.Tensor, mask: torch.Tensor,
                    beta: float = 0.5, temperature: float = 1.0) -> torch.Tensor:
    """Generalized Jensen-Shannon divergence (Agarwal et al., 2024, GKD) per position, times τ².

    `teacher_logprobs` is a dense `[B, T, V]` teacher (`dense_teacher_logprobs` for a top-k one,
    already at `temperature`). With M = β P + (1-β) Q: JSD_β = β KL(P || M) + (1-β) KL(Q || M).
    The endpoints are the limits the GKD paper uses: β = 0 is forward KL(P || Q), β = 1 reverse KL(Q || P).
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    logq = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    logp = teacher_logprobs.float()
    if beta == 0.0:
        value = _plogp_ratio(logp, logq).sum(-1)
    elif beta == 1.0:
        value = _plogp_ratio(logq, logp).sum(-1)
    else:
        logm = torch.logsumexp(torch.stack([logp + math.log(beta), logq + math.log(1 - beta)]), dim=0)
        value = beta * _plogp_ratio(logp, logm).sum(-1) + (1 - beta) * _plogp_ratio(logq, logm).sum(-1)
    return _masked(value * temperature**2, mask)


def ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per position against hard targets (`IGNORE` = no target, value 0 there).

    The same function serves CE on the teacher's text and CE on the ground truth; the caller picks
    the targets (with forced capture the teacher's text is the gold turn, so the two coincide)."""
    mask = targets != IGNORE
    per = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE, reduction="none")
    return _masked(per.view(targets.shape), mask)


def nll(logprobs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """`ce` from log-probabilities `[B, T, V]` (at temperature 1) instead of logits."""
    mask = targets != IGNORE
    picked = logprobs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return _masked(-picked, mask)


def process_weights(length: int, spans: dict[str, list[tuple[int, int]]], weights: dict[str, float],
                    offset: int = 0) -> torch.Tensor:
    """Per-position loss weights `[length]` for one sequence: 1 everywhere, `weights[kind]` at the
    positions that predict a token inside a span of that kind (tool_name, json_args, integration).

    Spans are half-open token ranges of the sequence (plus `offset`); target token j is predicted
    at position j-1, so a span [s, e) weighs positions [s-1, e-1). Overlaps take the later kind."""
    w = torch.ones(length)
    for kind, weight in weights.items():
        for s, e in spans.get(kind, ()):
            lo, hi = max(0, s + offset - 1), min(length, max(0, e + offset - 1))
            if lo < hi:
                w[lo:hi] = weight
    return w


def weighted_mean(per_position: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum(per_position * weights) / sum(weights) (0 when no weight)."""
    total = weights.sum()
    return (per_position * weights).sum() / total.clamp(min=torch.finfo(weights.dtype).tiny)
