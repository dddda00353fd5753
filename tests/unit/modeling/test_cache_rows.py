"""Per-row positions and cache-row selection: the batched-serving path gives each row its solo logits."""

from __future__ import annotations

import torch

from tests.unit.modeling.helpers import random_ids, tiny_model


def _solo_logits(model, prompt: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Prefill `prompt` [T] then decode `steps` [K] one by one, batch 1, row 0; logits [K, V]."""
    model.setup_caches(1, 64)
    model(prompt[None], torch.arange(len(prompt)))
    out = []
    for i, tok in enumerate(steps.tolist()):
        out.append(model(torch.tensor([[tok]]), torch.tensor([len(prompt) + i]))[0, -1])
    model.clear_caches()
    return torch.stack(out)


@torch.inference_mode()
def test_rows_at_own_positions_match_solo_decoding() -> None:
    """Two prompts of different lengths prefilled into rows 1 and 0, then decoded together with
    input_pos [B, T]: every row gets the logits it gets alone."""
    model = tiny_model()
    ids = random_ids(model, 2, 12)
    prompts, steps = [ids[0, :7], ids[1, :4]], ids[:, 7:10]
    solo = [_solo_logits(model, p, s) for p, s in zip(prompts, steps, strict=True)]

    model.setup_caches(3, 64)
    model(prompts[0][None], torch.arange(7), cache_row0=1)
    model(prompts[1][None], torch.arange(4), cache_row0=2)
    lens = torch.tensor([7, 4])
    for i in range(steps.shape[1]):
        logits = model(steps[:, i : i + 1], (lens + i)[:, None], cache_row0=1)
        for row in range(2):
            torch.testing.assert_close(logits[row, -1], solo[row][i], atol=1e-5, rtol=1e-4)


@torch.inference_mode()
def test_per_row_multi_token_verify_matches_prefill() -> None:
    """A [B, T] block at per-row positions (a speculative verify pass) equals the full-prefix logits."""
    model = tiny_model(seed=3)
    ids = random_ids(model, 2, 10, seed=5)
    full = [model(ids[r : r + 1, :n])[0] for r, n in ((0, 9), (1, 6))]
    model.setup_caches(2, 64)
    model(ids[0:1, :6], torch.arange(6), cache_row0=0)
    model(ids[1:2, :3], torch.arange(3), cache_row0=1)
    block = torch.stack([ids[0, 6:9], ids[1, 3:6]])
    pos = torch.tensor([[6, 7, 8], [3, 4, 5]])
    logits = model(block, pos)
    torch.testing.assert_close(logits[0], full[0][6:9], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(logits[1], full[1][3:6], atol=1e-5, rtol=1e-4)


@torch.inference_mode()
def test_cache_len_attends_over_the_live_prefix_only() -> None:
    """Limiting attention to the first cache_len slots changes nothing while every position is below it."""
    model = tiny_model(seed=4)
    ids = random_ids(model, 2, 12, seed=6)
    model.setup_caches(2, 64)
    model(ids[:, :8], torch.arange(8))
    full = model(ids[:, 8:10], torch.tensor([[8, 9], [8, 9]]))
    model.setup_caches(2, 64)
    model(ids[:, :8], torch.arange(8), cache_len=16)
    short = model(ids[:, 8:10], torch.tensor([[8, 9], [8, 9]]), cache_len=16)
    torch.testing.assert_close(short, full, atol=1e-5, rtol=1e-4)
