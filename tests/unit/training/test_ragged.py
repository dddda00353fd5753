"""Ragged training batches: fewer tokens, the same loss and gradients as the padded batch."""

from __future__ import annotations

import pytest
import torch

from modeling.config import load_role_config
from modeling.model import Transformer
from modeling.tokenizer import KSTokenizer
from training import losses
from training.kd_data import KDData, collate
from training.losses import IGNORE
from training.parallel_draft import parallel_batch
from training.ragged import ROW_TOKENS_BUCKET, SEGMENT_BUCKET, needed_tokens, ragged_batch, row_bounds
from training.sft_data import SFTData

WEIGHTS = {"tool_name": 2.0, "json_args": 4.0, "integration": 2.0}


def loss_and_grads(model: Transformer, x, y, w, top_ids, top_lps, kd_mask, positions=None, attn=None, ragged=None):
    """The trainer's KD objective (CE + top-k KL, process weights) and its gradients."""
    at = y != IGNORE
    logits = model(x, positions, logits_at=at, attn_mask=attn, ragged=ragged)
    ce = losses.ce(logits, y[at][None])
    loss = (ce * w[at][None]).sum()
    if top_ids is not None:
        kl = losses.topk_kl(logits, top_ids[at][None], top_lps[at][None], kd_mask[at][None])
        loss = loss + (kl * w[at][None]).sum()
    return loss.detach(), torch.autograd.grad(loss, list(model.parameters()))


def assert_same(a, b) -> None:
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    assert loss_a == pytest.approx(float(loss_b), rel=1e-5)
    for ga, gb in zip(grads_a, grads_b, strict=True):
        assert (ga - gb).abs().max() <= 1e-4 * max(1.0, float(gb.abs().max()))


@pytest.fixture(scope="module")
def kd_batch(kd_mix, dataset_dir):
    tok = KSTokenizer.load(dataset_dir / "tokenizer")
    kd = KDData.load(kd_mix, tok, 512, heldout_fraction=0.0)
    return tok, collate(kd.train[:6], tok.pad_id, 512, WEIGHTS)


def model_for(role: str, tok: KSTokenizer) -> Transformer:
    torch.manual_seed(0)
    cfg = load_role_config(role).model
    assert cfg.vocab_size == tok.vocab_size
    return Transformer(cfg)


def test_an_sft_batch_loses_its_padding_and_keeps_its_loss(dataset_dir, tokenizer):
    data = SFTData.load(dataset_dir / "extracted.jsonl", tokenizer, 512)
    x, y, w, *_ = collate(data.train[:8], tokenizer.pad_id, 512, WEIGHTS)
    x2, y2, w2, ids2, lps2, kd2, positions, layout = ragged_batch(x, y, w, None, None, None, pad_id=tokenizer.pad_id)
    assert ids2 is None and lps2 is None and kd2 is None
    assert x2.shape[0] == 1 and x2.shape[1] < x.numel() and x2.shape[1] % ROW_TOKENS_BUCKET == 0
    assert all((e - s) % SEGMENT_BUCKET == 0 for s, e in layout.bounds)
    # every target keeps its token, weight and position; fillers have none
    assert torch.equal(y2[y2 != IGNORE].sort().values, y[y != IGNORE].sort().values)
    assert float(w2.sum()) == pytest.approx(float(w.sum()))
    last = [int((row != IGNORE).nonzero().max()) for row in y]
    assert [e - s for s, e in layout.bounds][:8] == [-(-(n + 1) // SEGMENT_BUCKET) * SEGMENT_BUCKET for n in last]
    s, _ = layout.bounds[2]
    assert torch.equal(x2[0, s:s + last[2] + 1], x[2, :last[2] + 1])
    assert positions[s:s + last[2] + 1].tolist() == list(range(last[2] + 1))
    model = model_for("worker_tiny", tokenizer)
    assert_same(loss_and_grads(model, x, y, w, None, None, None),
                loss_and_grads(model, x2, y2, w2, None, None, None, positions, ragged=layout))


def test_a_kd_batch_keeps_its_teacher_rows_and_its_loss(kd_batch):
    tok, batch = kd_batch
    ids, kd_mask = batch[3], batch[5]
    *packed, positions, layout = ragged_batch(*batch, pad_id=tok.pad_id)
    assert packed[3].shape == (1, packed[0].shape[1], ids.shape[2])
    assert int(packed[5].sum()) == int(kd_mask.sum())
    model = model_for("worker_tiny", tok)
    assert_same(loss_and_grads(model, *batch), loss_and_grads(model, *packed, positions, ragged=layout))


def test_a_parallel_drafter_batch_keeps_its_groups_and_its_loss(kd_batch):
    tok, batch = kd_batch
    drafter_cfg = load_role_config("drafter_tiny")
    masks = drafter_cfg.model.parallel_draft
    assert masks
    padded = parallel_batch(*batch, masks, 4, tok.pad_id, torch.Generator().manual_seed(0))
    *packed, positions, layout = ragged_batch(*padded, pad_id=tok.pad_id)
    assert all(m is not None for m in layout.masks)
    assert packed[0].shape[1] < padded[0].numel()
    model = model_for("drafter_tiny", tok)
    assert_same(loss_and_grads(model, *padded[:6], padded[6], padded[7]),
                loss_and_grads(model, *packed, positions, ragged=layout))


def test_row_bounds_round_each_sequence_and_the_row_with_one_filler():
    s, r = SEGMENT_BUCKET, ROW_TOKENS_BUCKET
    assert row_bounds([1, s, s + 1]) == [(0, s), (s, 2 * s), (2 * s, 4 * s), (4 * s, r)]
    assert row_bounds([r - s, s]) == [(0, r - s), (r - s, r)]  # a full row needs no filler
    assert row_bounds([0]) == [(0, s), (s, r)]  # an empty sequence still owns a bucket
    assert row_bounds([]) == [(0, r)]


def test_rows_without_targets_are_left_out_and_an_empty_batch_is_one_filler_row():
    x = torch.randint(0, 50, (3, 40))
    y = torch.full((3, 40), IGNORE)
    y[1, 5:9] = 7
    w = (y != IGNORE).float()
    assert [k.tolist() for k in needed_tokens(y, None)] == [[], list(range(9)), []]
    x2, y2, w2, *_, positions, layout = ragged_batch(x, y, w, None, None, None, pad_id=0)
    assert layout.bounds == ((0, SEGMENT_BUCKET), (SEGMENT_BUCKET, ROW_TOKENS_BUCKET))
    assert torch.equal(x2[0, :9], x[1, :9]) and int((y2 != IGNORE).sum()) == 4 and float(w2.sum()) == 4.0
    assert positions[:9].tolist() == list(range(9))
    y[1] = IGNORE
    x2, y2, *_, layout = ragged_batch(x, y, w * 0, None, None, None, pad_id=0)
    assert layout.bounds == ((0, ROW_TOKENS_BUCKET),) and (y2 == IGNORE).all()


def test_judge_scores_of_a_ragged_row_are_those_of_the_padded_batch(tokenizer):
    """The judge's training batch: whole candidates end to end, pooled at each one's last token."""
    from modeling.judge import pad_batch
    from training.ragged import ragged_rows

    torch.manual_seed(0)
    model = Transformer(load_role_config("judge_tiny").model)
    seqs = [torch.randint(3, tokenizer.vocab_size, (n,)).tolist() for n in (40, 7, 16, 90)]
    x, positions, layout, last = ragged_rows(seqs, tokenizer.pad_id)
    assert x.shape[1] == 2 * ROW_TOKENS_BUCKET and [e - s for s, e in layout.bounds] == [48, 16, 16, 96, 80]
    assert last.tolist() == [39, 48 + 6, 64 + 15, 80 + 89]
    score, clause = model.judge(x, ragged=layout, input_pos=positions, last=last)
    padded, mask = pad_batch(seqs, tokenizer.pad_id, 32)
    score_p, clause_p = model.judge(padded, mask)
    torch.testing.assert_close(score, score_p, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(clause, clause_p, atol=1e-5, rtol=1e-5)
    grads = torch.autograd.grad(score.sum() + clause.sum(), list(model.parameters()), allow_unused=True)
    grads_p = torch.autograd.grad(score_p.sum() + clause_p.sum(), list(model.parameters()), allow_unused=True)
    for a, b in zip(grads, grads_p, strict=True):
        assert (a is None) == (b is None) and (a is None or (a - b).abs().max() <= 1e-4)
    with pytest.raises(ValueError, match="last"):
        model.judge(x, ragged=layout, input_pos=positions)
