"""Greedy decoding with the KV cache, for training-time evaluation and the local runners.

The service has its own batched, sampling, speculative engine; this is the small reference loop
(prefill once, then one token at a time) that offline evaluation can trust.
"""

from __future__ import annotations

import torch

from modeling.model import Transformer


@torch.inference_mode()
def greedy(model: Transformer, prompt: list[int], max_new_tokens: int, stop_ids: set[int]) -> list[int]:
    """Generated ids (the stop token included when reached) after `prompt`."""
    limit = min(model.config.max_seq_len, len(prompt) + max_new_tokens)
    if len(prompt) >= limit:
        return []
    model.setup_caches(1, limit)
    try:
        logits = model(torch.tensor([prompt]), torch.arange(len(prompt)))
        out: list[int] = []
        for pos in range(len(prompt), limit):
            token = int(logits[0, -1].argmax())
            out.append(token)
            if token in stop_ids or pos + 1 >= limit:
                break
            logits = model(torch.tensor([[token]]), torch.tensor([pos]))
        return out
    finally:
        model.clear_caches()
