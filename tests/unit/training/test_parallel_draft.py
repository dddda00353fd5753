"""Parallel-drafter training groups: each appended pad sees exactly what it sees at inference."""

from __future__ import annotations

import pytest
import torch

from modeling.config import ModelConfig
from modeling.model import Transformer
from training.drafter_eval import acceptance_report, chain_tokens, parallel_acceptance
from training.losses import IGNORE
from training.parallel_draft import add_draft_groups, gather_targets, parallel_batch, sample_cuts

MASK = 0


def drafter(masks: int = 3, seed: int = 0, n_layers: int = 2) -> Transformer:
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=64, d_model=32, n_layers=n_layers, n_heads=4, n_kv_heads=2, d_head=8,
                      intermediate_size=48, max_seq_len=64, parallel_draft=masks)
    return Transformer(cfg).eval()


@torch.no_grad()
def test_groups_reproduce_inference_forwards():
    model = drafter()
    x = torch.randint(3, 64, (2, 12))
    cuts = torch.tensor([[4, 9], [0, -1]])
    x2, positions, attn, source = add_draft_groups(x, cuts, 3, MASK)
    logits = model(x2, positions, attn_mask=attn)
    torch.testing.assert_close(logits[:, :12], model(x), atol=1e-5, rtol=1e-5)  # real tokens: a causal forward
    for b in range(2):
        for g in range(2):
            c = int(cuts[b, g])
            if c < 0:
                continue
            # at inference: the real tokens up to the cut, then pads at the next positions
            alone = model(torch.cat([x[b, :c + 1], torch.full((3,), MASK)])[None])[0, c + 1:]
            pads = logits[b, 12 + 3 * g:12 + 3 * (g + 1)]
            torch.testing.assert_close(pads, alone, atol=1e-5, rtol=1e-5)
            assert positions[b, 12 + 3 * g:12 + 3 * (g + 1)].tolist() == [c + 1, c + 2, c + 3]
    # pad j of the group cut at 9 in a 12-token row predicts the target of position 9 + j, if inside
    assert source[0, 12 + 3:].tolist() == [10, 11, -1]
    assert source[1, 12 + 3:].tolist() == [-1, -1, -1]  # no group
    assert x2[:, 12:].eq(MASK).all()


def test_gathered_targets_follow_the_source():
    y = torch.arange(10)[None].repeat(2, 1)
    y[1, :3] = IGNORE
    w = torch.rand(2, 10)
    ids = torch.randint(0, 50, (2, 10, 4))
    cuts = sample_cuts(y, 3, torch.Generator().manual_seed(0))
    assert (y.gather(1, cuts.clamp(min=0)) != IGNORE).all()  # cuts sit on targets
    x2, y2, w2, ids2, _lps2, mask2, positions, attn = parallel_batch(
        torch.zeros(2, 10, dtype=torch.long), y, w, ids, ids.float(), y != IGNORE, 2, 3, MASK,
        torch.Generator().manual_seed(0))
    source = add_draft_groups(torch.zeros(2, 10, dtype=torch.long), cuts, 2, MASK)[3]
    for b in range(2):
        for i in range(x2.shape[1]):
            s = int(source[b, i])
            if s < 0:
                assert y2[b, i] == IGNORE and w2[b, i] == 0 and not mask2[b, i]
            else:
                assert y2[b, i] == y[b, s] and torch.equal(ids2[b, i], ids[b, s])
    assert gather_targets(w, torch.tensor([[-1, 2]]).repeat(2, 1), 0.0)[:, 0].eq(0).all()
    assert attn.shape == (2, 1, 16, 16) and positions.shape == (2, 16)


def test_parallel_acceptance_of_a_drafter_against_itself_as_worker():
    """A worker's own next-token guesses (guess 0) are always accepted; later guesses are scored
    against the worker's distribution at later tokens, and chains stop at the trajectory's end."""
    worker = drafter(masks=3)
    betas, greedy = parallel_acceptance(worker, worker, [5, 6, 7], [8, 9, 10, 11])
    assert [len(c) for c in betas] == [4, 3, 2, 1]
    assert all(c[0] == pytest.approx(1.0, abs=1e-4) and h[0] for c, h in zip(betas, greedy, strict=True))
    report = acceptance_report(worker, worker, [([5, 6, 7], [8, 9, 10, 11])], gammas=(4,))
    assert report["alpha_by_position"][0] == pytest.approx(1.0, abs=1e-4)
    assert 1.0 < report["gamma_4"]["expected_tokens"] <= 5.0


def test_chain_tokens_by_hand():
    assert chain_tokens([1.0, 1.0, 0.0, 1.0], 4) == 3.0
    assert chain_tokens([0.5, 0.5], 4) == pytest.approx(1.75)
    assert chain_tokens([True, True, True], 2) == 3.0
