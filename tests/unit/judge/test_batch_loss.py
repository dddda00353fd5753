"""The judge trainer's batch: its ragged row (fillers and rounding for fixed CPU bf16 shapes) changes nothing."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from modeling.judge import pad_batch
from tests.unit.modeling.helpers import role_config, tiny_model
from training.judge.trainer import JudgeOptions, JudgeSplit, batch_loss


def test_batch_loss_equals_the_loss_over_the_distinct_candidates_alone():
    model = tiny_model(role="judge")
    g = torch.Generator().manual_seed(0)
    ids = [torch.randint(1, 90, (int(n),), generator=g).tolist() for n in torch.randint(5, 40, (6,), generator=g)]
    split = JudgeSplit(inputs=[("p", str(i)) for i in range(6)],
                       labels=(torch.rand(6, 5, generator=g) < 0.5).float(), passed=torch.zeros(6),
                       a=torch.tensor([0, 1, 2, 0]), b=torch.tensor([3, 4, 5, 5]), winner=torch.tensor([1, -1, 0, 1]))
    pairs = torch.tensor([0, 1, 2, 3])  # 8 slots, 6 distinct candidates (0 and 5 twice)
    opts = JudgeOptions()
    loss, parts = batch_loss(model, split, pairs, ids, 0, opts, role_config("judge"))

    x, mask = pad_batch(ids, 0)  # the reference: each candidate once, no rounding, no filler
    score, logits = model.judge(x, mask)
    d = score[split.a[pairs]] - score[split.b[pairs]]
    y = split.winner[pairs].float()
    rank = F.softplus(-(y * d)[y != 0]).mean()
    tie = (F.softplus(d[y == 0]) + F.softplus(-d[y == 0]) - 2 * torch.log(torch.tensor(2.0))).mean()
    clause = F.binary_cross_entropy_with_logits(logits, split.labels)
    expected = opts.w_rank * rank + opts.w_tie * tie + opts.w_clause * clause
    assert abs(loss.item() - expected.item()) < 1e-5
    assert abs(parts["clause"] - clause.item()) < 1e-5
