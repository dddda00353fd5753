"""Decoding with the KV cache, for training-time evaluation, KD capture and the local runners.

The service has its own scheduling, speculative engine; this is the small reference loop (prefill,
then one token per step) that offline evaluation can trust. `generate_batch` decodes many prompts
at once, each row at its own positions: one forward per step for the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from modeling.constrained import Constraint, masked
from modeling.model import WIDTH_BUCKET, Transformer, bucket


@torch.inference_mode()
def generate_batch(model: Transformer, prompts: Sequence[Sequence[int]], max_new_tokens: int, stop_ids: set[int],
                   temperature: float = 0.0, seeds: Sequence[int] | None = None,
                   constraints: Sequence[Constraint | None] | None = None) -> list[tuple[list[int], int | None]]:
    """Per prompt, (generated ids without the stop token, the stop token that ended it or None); greedy at
    temperature 0, else sampled from softmax(logits / temperature) with a generator seeded per row
    (`seeds`), so a row's draws do not depend on the other rows. `constraints` (one per prompt, None
    for a free row) mask each row's logits before the choice, as the service's grammars do."""
    n = len(prompts)
    limits = [min(model.config.max_seq_len, len(p) + max_new_tokens) for p in prompts]
    out: list[list[int]] = [[] for _ in prompts]
    stops: list[int | None] = [None] * n
    live = [i for i in range(n) if 0 < len(prompts[i]) < limits[i]]
    if not live:
        return [([], None) for _ in prompts]
    gens = None
    if temperature > 0:
        if seeds is None or len(seeds) != n:
            raise ValueError("sampling needs one seed per prompt")
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    model.setup_caches(n, max(limits))
    try:
        logits = torch.zeros(n, model.config.vocab_size)
        for i in live:  # prefill row by row (unequal lengths), into cache row i
            # padded to a multiple of WIDTH_BUCKET (a few shapes, see modeling.model.ROW_BUCKET): the pads' K/V
            # land in slots the decode overwrites before the causal mask lets anything read them
            length = len(prompts[i])
            width = max(length, min(bucket(length, WIDTH_BUCKET), max(limits)))
            ids = [*prompts[i], *[model.config.pad_token_id] * (width - length)]
            h = model.hidden_states(torch.tensor([ids]), torch.arange(width), cache_row0=i,
                                    cache_len=_live(width, max(limits)))
            logits[i] = model.lm_head(h[0, length - 1]).float()
        pos = [len(p) for p in prompts]
        while live:
            tokens = torch.full((n, 1), model.config.pad_token_id, dtype=torch.long)
            for i in list(live):
                row = logits[i] if constraints is None else masked(logits[i], constraints[i])
                if gens is None:
                    token = int(row.argmax())
                else:
                    probs = torch.softmax(row.float() / temperature, dim=-1)
                    token = int(torch.multinomial(probs, 1, generator=gens[i]))
                if constraints is not None and constraints[i] is not None:
                    constraints[i].advance(token)
                if token in stop_ids:
                    stops[i] = token
                    live.remove(i)
                    continue
                out[i].append(token)
                if pos[i] + 1 >= limits[i]:
                    live.remove(i)
                    continue
                tokens[i, 0] = token
            if not live:
                break
            # rows that are done still take a step (at their last position, where nothing is read again)
            positions = torch.tensor([[min(pos[i], limits[i] - 1)] for i in range(n)])
            logits = model(tokens, positions, cache_len=_live(int(positions.max()) + 1, max(limits)))[:, -1].float()
            for i in live:
                pos[i] += 1
        return list(zip(out, stops, strict=True))
    finally:
        model.clear_caches()


KV_BLOCK = 64  # attention reads the cache up to the live length rounded up to this: few distinct shapes


def _live(length: int, cache: int) -> int:
    return min(cache, -(-length // KV_BLOCK) * KV_BLOCK)


def greedy(model: Transformer, prompt: list[int], max_new_tokens: int, stop_ids: set[int],
           constraint: Constraint | None = None) -> list[int]:
    """Generated ids (the stop token included when reached) after `prompt`."""
    ids, stop = generate_batch(model, [prompt], max_new_tokens, stop_ids, constraints=[constraint])[0]
    return ids if stop is None else [*ids, stop]
