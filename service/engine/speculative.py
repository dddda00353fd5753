"""Speculative decoding: draft proposers and the lossless acceptance rule.

Acceptance (Leviathan et al. 2023, Chen et al. 2023): draft token x drawn from q is accepted with
probability min(1, p(x)/q(x)); at the first rejection a token is drawn from norm(max(0, p - q)); if
all k drafts are accepted a bonus token is drawn from p_{k+1}. The output is distributed exactly as
sampling from p alone. With temperature 0 both p and q are one-hot argmax, so the same rule is
greedy equality (accept iff x = argmax p; else emit argmax p). An n-gram draft has no q: it is
one-hot at the proposed token (accept with probability p(x), resample from p with x removed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor

from service.engine.sampling import sample


def accept_or_resample(x: int, q: Tensor | None, p: Tensor, generator: torch.Generator) -> tuple[int, bool]:
    """(token, accepted): x itself, or a draw from the residual distribution."""
    q_x = 1.0 if q is None else float(q[x])
    ratio = float(p[x]) / q_x if q_x > 0 else 0.0
    if ratio >= 1.0 or (ratio > 0.0 and float(torch.rand((), generator=generator)) < ratio):
        return x, True
    if q is None:
        residual = p.clone()
        residual[x] = 0.0
    else:
        residual = (p - q).clamp_min(0.0)
    total = float(residual.sum())
    return sample(residual / total if total > 0 else p, generator), False


def speculative_tokens(
    draft: Sequence[int],
    draft_probs: Tensor | None,
    target_probs: Callable[[int], Tensor],
    generator: torch.Generator,
) -> Iterator[tuple[int, bool]]:
    """Yield (token, accepted_draft) for one verified burst: 1 .. len(draft)+1 tokens.

    target_probs(i) is p at draft position i (the bonus position is len(draft)); it is called lazily,
    after the caller has consumed the previous token, so a grammar state can advance in between and a
    caller that stops early (stop token, max_tokens) never pays for later positions.
    """
    for i, x in enumerate(draft):
        q = None if draft_probs is None else draft_probs[i]
        token, accepted = accept_or_resample(x, q, target_probs(i), generator)
        yield token, accepted
        if not accepted:
            return
    yield sample(target_probs(len(draft)), generator), False


def ngram_propose(tokens: Sequence[int], k: int, n_max: int = 4, n_min: int = 1) -> list[int]:
    """Prompt lookup: find the latest earlier occurrence of the longest suffix of 1..n_max tokens
    (at least n_min) and propose the k tokens that followed it."""
    length = len(tokens)
    if length < 2:
        return []
    last = tokens[-1]
    best_n, best_end = 0, -1
    for end in range(length - 2, -1, -1):  # latest first; `end` is where the match's last token sits
        if tokens[end] != last:
            continue
        n = 1
        while n < n_max and n <= end and tokens[end - n] == tokens[length - 1 - n]:
            n += 1
        if n > best_n:
            best_n, best_end = n, end
            if n == n_max:
                break
    if best_n < n_min:
        return []
    return list(tokens[best_end + 1:best_end + 1 + k])


class AdaptiveGamma:
    """Draft length that follows the acceptance rate: longer drafts while they are mostly accepted."""

    def __init__(self, gamma_max: int, enabled: bool = True):
        self.gamma_max, self.enabled = gamma_max, enabled
        self.gamma = gamma_max
        self.rate = 1.0  # EMA of accepted / drafted

    def update(self, drafted: int, accepted: int) -> None:
        if not self.enabled or drafted == 0:
            return
        self.rate = 0.8 * self.rate + 0.2 * (accepted / drafted)
        if self.rate > 0.7:
            self.gamma = min(self.gamma_max, self.gamma + 1)
        elif self.rate < 0.3:
            self.gamma = max(1, self.gamma - 1)
