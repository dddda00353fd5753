"""Offline speculative-decoding acceptance of a drafter against its worker.

On held-out worker trajectories (the worker's own greedy continuations of held-out prompts), both
models score every generated position with full logits. Per position t:

- `beta_t = sum_v min(p_worker(v), q_drafter(v))` is the probability that speculative sampling
  accepts the drafter's token there (Leviathan et al., 2023); `alpha` is its mean;
- `greedy_t = [argmax q == argmax p]` is the acceptance at temperature 0 (greedy drafting).

The expected number of tokens one verification step yields when drafting `gamma` tokens from
position t is `1 + beta_t + beta_t*beta_{t+1} + ... + beta_t*...*beta_{t+gamma-1}` (each accepted
draft plus the worker's own token after the first rejection or after all gamma): `chain_tokens` of
the chain beta_t, beta_{t+1}, ... We average it over every start position of every trajectory
(positions past the end count as rejections), and also give the i.i.d. formula
`(1 - alpha^(gamma+1)) / (1 - alpha)` for comparison. A parallel drafter (training/parallel_draft.py)
makes all its guesses from the same start, so its chain at t compares guess j with the worker at t + j
(`parallel_acceptance`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from modeling.model import Transformer
from modeling.tokenizer import KSTokenizer
from training.parallel_draft import add_draft_groups
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


def iid_expected_tokens(alpha: float, gamma: int) -> float:
    return float(gamma + 1) if alpha >= 1.0 else (1 - alpha ** (gamma + 1)) / (1 - alpha)


def chain_tokens(chain: Sequence[float], gamma: int) -> float:
    """Expected tokens of one verification step drafting `gamma` tokens, where chain[j] is the probability
    that draft j + 1 is accepted once drafts 1..j were (missing entries: 0):
    1 + chain[0] + chain[0]*chain[1] + ... (0/1 entries give 1 + the leading accepted drafts)."""
    run, expect = 1.0, 1.0
    for j in range(gamma):
        run *= float(chain[j]) if j < len(chain) else 0.0
        expect += run
    return expect


@torch.inference_mode()
def parallel_acceptance(worker: Transformer, drafter: Transformer, prompt: Sequence[int],
                        generated: Sequence[int]) -> tuple[list[list[float]], list[list[bool]]]:
    """A parallel drafter's (beta, greedy) chains: for every generated token i, drafting from the prefix
    that ends just before it, entry j compares the drafter's guess j (its logits at the last real token for
    j = 0, at pad j otherwise) with the worker's distribution for token i + j given the true prefix. All
    start points are scored in one drafter forward (training.parallel_draft's groups)."""
    if not generated:
        return [], []
    masks = drafter.config.parallel_draft
    ids = torch.tensor([list(prompt) + list(generated)])
    start, n = len(prompt) - 1, len(generated)
    p = torch.softmax(worker(ids)[0, start:start + n].float(), dim=-1)  # [n, V]: token i's distribution
    cuts = torch.arange(start, start + n)[None]
    x2, positions, attn, _ = add_draft_groups(ids, cuts, masks, drafter.config.pad_token_id)
    logits = drafter(x2, positions, attn_mask=attn)[0].float()
    length = ids.shape[1]
    q_real = logits[start:start + n]  # guess 0 of every group
    q_pads = logits[length:].view(n, masks, -1)
    q = torch.softmax(torch.cat([q_real[:, None], q_pads], dim=1), dim=-1)  # [n, m+1, V]
    target = torch.arange(n)[:, None] + torch.arange(masks + 1)[None]  # token compared with guess j
    inside = target < n
    p_at = p[target.clamp(max=n - 1)]  # [n, m+1, V]
    beta = torch.minimum(p_at, q).sum(-1).clamp(max=1.0).tolist()
    greedy = (p_at.argmax(-1) == q.argmax(-1)).tolist()
    keep = inside.sum(1).tolist()  # guesses past the trajectory's end are dropped
    return [b[:k] for b, k in zip(beta, keep, strict=True)], [g[:k] for g, k in zip(greedy, keep, strict=True)]


def acceptance_report(worker: Transformer, drafter: Transformer,
                      trajectories: Iterable[tuple[Sequence[int], Sequence[int]]],
                      gammas: Sequence[int] = (3, 4, 5)) -> dict[str, float | int | dict[str, float]]:
    """alpha, greedy acceptance and expected tokens per verification step per gamma over (prompt,
    generated) pairs. For an autoregressive drafter draft j + 1 from start t is scored at token t + j;
    for a parallel drafter (`parallel_draft` > 0) from its guess j at start t (parallel_acceptance).
    alpha and greedy acceptance are those of the next-token guess (the drafter's distribution against the
    worker's at every position, whatever the kind); a parallel drafter's later guesses are in
    `alpha_by_position` and their mean with the first in `alpha_all_guesses`."""
    if worker.config.vocab_size != drafter.config.vocab_size:
        raise ValueError("worker and drafter vocabularies differ; they cannot share drafts")
    worker.eval()
    drafter.eval()
    beta_chains: list[list[float]] = []
    greedy_chains: list[list[bool]] = []
    top = max(gammas, default=1)
    count = 0
    for prompt, generated in trajectories:
        count += bool(generated)
        if drafter.config.parallel_draft:
            betas, greedy = parallel_acceptance(worker, drafter, prompt, generated)
        else:
            b, g = position_acceptance(worker, drafter, prompt, generated)
            betas, greedy = [b[t:t + top] for t in range(len(b))], [g[t:t + top] for t in range(len(g))]
        beta_chains.extend(betas)
        greedy_chains.extend(greedy)
    n = len(beta_chains)
    if not n:
        raise ValueError("no generated tokens to score")
    depth = drafter.config.parallel_draft + 1 if drafter.config.parallel_draft else 1
    by_position = []  # (mean beta, greedy acceptance) of guess j over the starts that have one
    for j in range(depth):
        vals = [(c[j], h[j]) for c, h in zip(beta_chains, greedy_chains, strict=True) if j < len(c)]
        by_position.append((sum(v for v, _ in vals) / len(vals), sum(h for _, h in vals) / len(vals)))
    alpha, greedy = by_position[0]  # the next-token guess: the same quantity for either kind of drafter
    report: dict[str, float | int | dict[str, float]] = {
        "alpha": round(alpha, 4), "greedy_acceptance": round(greedy, 4), "trajectories": count, "tokens": n,
    }
    if drafter.config.parallel_draft:
        report["alpha_by_position"] = [round(a, 4) for a, _ in by_position]
        report["alpha_all_guesses"] = round(sum(a for a, _ in by_position) / depth, 4)
    for gamma in gammas:
        expected = sum(chain_tokens(c, gamma) for c in beta_chains) / n
        report[f"gamma_{gamma}"] = {"expected_tokens": round(expected, 3),
                                    "expected_accepted_drafts": round(expected - 1, 3),
                                    "greedy_tokens": round(sum(chain_tokens(c, gamma) for c in greedy_chains) / n, 3),
                                    "iid_expected_tokens": round(iid_expected_tokens(alpha, gamma), 3)}
    return report
