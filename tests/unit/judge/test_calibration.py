"""Calibration fits recover known parameters; metrics give the exact numbers on small hand cases."""

from __future__ import annotations

import torch

from arbiter.judge import CLAUSES
from modeling.judge import Calibration
from training.judge.calibrate import (
    best_threshold,
    best_tie_margin,
    ece,
    f1,
    fit_calibration,
    fit_platt,
    fit_temperature,
    judge_metrics,
)


def test_platt_recovers_slope_and_bias():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, generator=g) * 3
    y = (torch.rand(2000, generator=g) < torch.sigmoid(2.0 * x - 1.0)).float()
    a, b = fit_platt(x, y)
    assert abs(a - 2.0) < 0.25 and abs(b + 1.0) < 0.25
    a0, b0 = fit_platt(x, y, bias=False)
    assert b0 == 0.0 and a0 > 0


def test_temperature_recovers_overconfidence():
    g = torch.Generator().manual_seed(1)
    true_logits = torch.randn(4000, generator=g) * 2
    y = (torch.rand(4000, generator=g) < torch.sigmoid(true_logits)).float()
    assert abs(fit_temperature(true_logits * 3, y) - 3.0) < 0.4


def test_f1_threshold_and_ece_on_hand_cases():
    pred = torch.tensor([True, True, False, False])
    y = torch.tensor([True, False, True, False])
    assert f1(pred, y) == 0.5
    assert f1(torch.zeros(3, dtype=torch.bool), torch.zeros(3, dtype=torch.bool)) == 1.0
    probs = torch.tensor([0.9, 0.8, 0.3, 0.2])
    assert best_threshold(probs, torch.tensor([True, True, False, False])) == 0.5  # every t in (0.3, 0.8] is perfect
    assert ece(torch.tensor([0.25, 0.25, 0.25, 0.25]), torch.tensor([1.0, 0.0, 0.0, 0.0])) == 0.0
    assert abs(ece(torch.tensor([0.9, 0.9]), torch.tensor([0.0, 0.0])) - 0.9) < 1e-6


def test_tie_margin_separates_small_differences():
    diff = torch.tensor([3.0, -2.5, 0.1, -0.05, 2.0, 0.2])
    winner = torch.tensor([1, -1, 0, 0, 1, 0])
    m = best_tie_margin(diff, winner)
    assert 0.2 <= m < 2.0


def test_metrics_of_a_perfect_judge():
    score = torch.tensor([2.0, -1.0, 0.5, 0.5])
    logits = torch.tensor([[4.0] * 5, [-4.0] * 5, [4.0, -4.0, 4.0, -4.0, 4.0], [4.0] * 5])
    labels = (logits > 0).float()
    out = {"score": score, "logits": logits, "labels": labels, "passed": torch.tensor([1.0, 0.0, 1.0, 1.0]),
           "diff": torch.tensor([3.0, -3.0, 0.0]), "winner": torch.tensor([1, -1, 0])}
    cal = fit_calibration(out)
    m = judge_metrics(out, cal)
    assert m["pairwise_accuracy"] == 1.0 and m["three_way_accuracy"] == 1.0
    assert m["clause_micro_f1"] == 1.0 and m["clause_macro_f1"] == 1.0 and set(m["clause_f1"]) == set(CLAUSES)
    assert m["decisive_pairs"] == 2


def test_calibration_round_trips_through_json():
    cal = Calibration(1.5, -0.2, 0.8, 0.3, dict.fromkeys(CLAUSES, 1.7), dict.fromkeys(CLAUSES, 0.4))
    assert Calibration.from_dict(cal.to_dict()) == cal
