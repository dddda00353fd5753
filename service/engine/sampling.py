"""Logits -> the final sampling distribution -> a token. One row at a time, a torch.Generator per row.

`target_probs` is the exact distribution a token is drawn from (temperature, top-k, top-p, min-p,
after any grammar mask the caller applied); speculative verification uses the same function, so
the speculative and plain paths sample from identical distributions. Temperature 0 is one-hot
argmax: the seed is ignored and speculative acceptance becomes greedy equality.
"""

from __future__ import annotations

import torch
from torch import Tensor

from service.engine.params import SamplingParams, TokenLogprobs


def greedy_ids(logits: Tensor) -> list:
    """Argmax over the last axis as (nested) lists, e.g. [B, T, V] -> B lists of T token ids. numpy's for a
    CPU float32 tensor: torch's reduction over the last axis of a [T, V] tensor costs ~40 µs at T 13, V
    2,048 (once or twice a speculative burst), numpy's ~2 µs. Both return the first of tied maxima."""
    if logits.device.type == "cpu" and logits.dtype == torch.float32:
        return logits.numpy().argmax(-1).tolist()
    return logits.argmax(-1).tolist()


def target_probs(logits: Tensor, params: SamplingParams) -> Tensor:
    """logits [V] (masked entries -inf) -> probabilities [V] (float32, sums to 1)."""
    logits = logits.float()
    if params.greedy:
        return torch.nn.functional.one_hot(logits.argmax(), logits.shape[-1]).float()
    logits = logits / params.temperature
    if 0 < params.top_k < logits.shape[-1]:
        kth = torch.topk(logits, params.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if params.min_p > 0:
        probs = probs.masked_fill(probs < params.min_p * probs.max(), 0.0)
    if params.top_p < 1:
        sorted_probs, order = torch.sort(probs, descending=True)
        before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # mass of strictly better tokens
        sorted_probs = sorted_probs.masked_fill(before >= params.top_p, 0.0)
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    return probs / probs.sum()


def sample(probs: Tensor, generator: torch.Generator | None) -> int:
    """One draw from probs [V]; argmax when the distribution is one-hot (no random number used)."""
    top = int(probs.argmax())
    if probs[top] >= 1.0:
        return top
    return int(torch.multinomial(probs, 1, generator=generator))


def token_logprobs(logits: Tensor, token: int, k: int) -> TokenLogprobs:
    """The model's log-probability of `token` and its top k alternatives (raw logits, no sampling knobs)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    top = ()
    if k > 0:
        values, ids = torch.topk(logp, k)
        top = tuple(zip(ids.tolist(), values.tolist(), strict=True))
    return TokenLogprobs(token, float(logp[token]), top)


def make_generator(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    return g
