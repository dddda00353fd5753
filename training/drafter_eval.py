"""Offline speculative-decoding acceptance of a drafter against its worker.

On held-out worker trajectories (the worker's own greedy continuations of held-out prompts), both
models score every generated position with full logits. Per position t:

- `beta_t = sum_v min(p_worker(v), q_drafter(v))` is the probability that speculative sampling
  accepts the drafter's token there (Leviathan et al., 2023); `alpha` is its mean;
- `greedy_t = [argmax q == argmax p]` is the acceptance at temperature 0 (greedy drafting).

The expected number of tokens one verification step yields when drafting `gamma` tokens from
position t is `1 + beta_t + beta_t*beta_{t+1} + ... + beta_t*...*beta_{t+gamma-1}` (each accepted
draft plus the worker's own token after the first rejection or after all gamma). We average it over
every start position of every trajectory (positions past the end count as rejections), and also
give the i.i.d. formula `(1 - alpha^(gamma+1)) / (1 - alpha)` for comparison.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from modeling.model import Transformer
from modeling.tokenizer import KSTokenizer
from training.toolcall_eval import decode_greedy, heldout_prompts


@torch.inference_mode()
def worker_trajectories(worker: Transformer, tok: KSTokenizer, rows: Iterable[dict], tools: list[dict],
                        max_turns: int = 200, max_new_tokens: int = 96) -> list[tuple[list[int], list[int]]]:
    """The worker's greedy continuation of every assistant turn of `rows` (gold history as context),
    the end token included when reached."""
    prompts = [p for *_, p in heldout_prompts(tok, rows, tools, max_turns, max_new_tokens, worker.config.max_seq_len)]
    return list(zip(prompts, decode_greedy(worker, prompts, max_new_tokens, tok.end_id), strict=True))


@torch.inference_mode()
def position_acceptance(worker: Transformer, drafter: Transformer, prompt: Sequence[int],
                        generated: Sequence[int]) -> tuple[list[float], list[bool]]:
    """(beta_t, greedy_t) for every generated token, scored by both models in one forward each."""
    if not generated:
        return [], []
    ids = torch.tensor([list(prompt) + list(generated)])
    start = len(prompt) - 1  # logits at position i predict token i + 1
    stop = start + len(generated)
    p = torch.softmax(worker(ids)[0, start:stop].float(), dim=-1)
    q = torch.softmax(drafter(ids)[0, start:stop].float(), dim=-1)
    beta = torch.minimum(p, q).sum(-1).clamp(max=1.0)
    greedy = p.argmax(-1) == q.argmax(-1)
    return beta.tolist(), greedy.tolist()


def expected_tokens(betas: Sequence[float], gamma: int) -> float:
    """Mean over start positions of the expected tokens per verification step (see module doc)."""
    if not betas:
        return 0.0
    total = 0.0
    for t in range(len(betas)):
        run, expect = 1.0, 1.0
        for i in range(gamma):
            run *= betas[t + i] if t + i < len(betas) else 0.0
            expect += run
        total += expect
    return total / len(betas)


def iid_expected_tokens(alpha: float, gamma: int) -> float:
    return float(gamma + 1) if alpha >= 1.0 else (1 - alpha ** (gamma + 1)) / (1 - alpha)


def acceptance_report(worker: Transformer, drafter: Transformer,
                      trajectories: Iterable[tuple[Sequence[int], Sequence[int]]],
                      gammas: Sequence[int] = (3, 4, 5)) -> dict[str, float | int | dict[str, float]]:
    """alpha, greedy acceptance and expected accepted length per gamma over (prompt, generated) pairs."""
    if worker.config.vocab_size != drafter.config.vocab_size:
        raise ValueError("worker and drafter vocabularies differ; they cannot share drafts")
    worker.eval()
    drafter.eval()
    per_traj: list[list[float]] = []
    greedy_hits: list[bool] = []
    for prompt, generated in trajectories:
        betas, greedy = position_acceptance(worker, drafter, prompt, generated)
        if betas:
            per_traj.append(betas)
            greedy_hits.extend(greedy)
    n = sum(len(b) for b in per_traj)
    if not n:
        raise ValueError("no generated tokens to score")
    alpha = sum(sum(b) for b in per_traj) / n
    report: dict[str, float | int | dict[str, float]] = {
        "alpha": round(alpha, 4), "greedy_acceptance": round(sum(greedy_hits) / n, 4),
        "trajectories": len(per_traj), "tokens": n,
    }
    for gamma in gammas:
        weighted = sum(expected_tokens(b, gamma) * len(b) for b in per_traj) / n
        report[f"gamma_{gamma}"] = {"expected_tokens": round(weighted, 3),
                                    "expected_accepted_drafts": round(weighted - 1, 3),
                                    "iid_expected_tokens": round(iid_expected_tokens(alpha, gamma), 3)}
    return report
