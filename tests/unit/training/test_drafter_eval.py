"""Offline acceptance metrics of a drafter against its worker."""

from __future__ import annotations

import math

import pytest
import torch

from modeling.config import ModelConfig
from modeling.model import Transformer
from training.drafter_eval import acceptance_report, chain_tokens, iid_expected_tokens, position_acceptance


def tiny(seed: int, vocab: int = 64) -> Transformer:
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=vocab, d_model=32, n_layers=1, n_heads=2, n_kv_heads=1, d_head=16,
                      intermediate_size=64, max_seq_len=64)
    model = Transformer(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(40)  # peaked distributions, so two random models disagree clearly
    return model


TRAJ = [([1, 2, 3, 4], [5, 6, 7, 8, 9]), ([3, 3], [1, 2, 3])]


def expected_tokens(betas: list[float], gamma: int) -> float:
    """An autoregressive drafter's mean over start positions: the chain from t is betas[t:]."""
    return sum(chain_tokens(betas[t:], gamma) for t in range(len(betas))) / len(betas)


def test_expected_tokens_by_hand():
    assert expected_tokens([0.5], 3) == pytest.approx(1.5)
    assert expected_tokens([0.5, 0.5], 2) == pytest.approx((1.75 + 1.5) / 2)
    assert expected_tokens([1.0] * 10, 4) == pytest.approx((7 * 5 + 4 + 3 + 2) / 10)
    assert expected_tokens([0.0] * 4, 4) == 1.0


def test_iid_formula():
    assert iid_expected_tokens(0.7, 4) == pytest.approx((1 - 0.7**5) / 0.3)
    assert iid_expected_tokens(1.0, 4) == 5.0


def test_identical_models_accept_everything():
    worker = tiny(0)
    report = acceptance_report(worker, worker, TRAJ, gammas=(4,))
    assert report["alpha"] == pytest.approx(1.0, abs=1e-4)
    assert report["greedy_acceptance"] == 1.0
    assert report["tokens"] == 8


def test_beta_is_overlap_of_the_two_distributions():
    worker, drafter = tiny(0), tiny(1)
    prompt, gen = TRAJ[0]
    betas, greedy = position_acceptance(worker, drafter, prompt, gen)
    ids = torch.tensor([prompt + gen])
    with torch.no_grad():
        p = torch.softmax(worker(ids)[0], -1)
        q = torch.softmax(drafter(ids)[0], -1)
    for j in range(len(gen)):
        pos = len(prompt) - 1 + j
        assert betas[j] == pytest.approx(float(torch.minimum(p[pos], q[pos]).sum()), abs=1e-5)
        assert greedy[j] == bool(p[pos].argmax() == q[pos].argmax())
    report = acceptance_report(worker, drafter, TRAJ)
    assert 0.0 < report["alpha"] < 0.9
    g4 = report["gamma_4"]
    assert 1.0 <= g4["expected_tokens"] <= 5.0
    assert g4["expected_accepted_drafts"] == pytest.approx(g4["expected_tokens"] - 1, abs=1e-3)
    assert not math.isnan(g4["iid_expected_tokens"])


def test_refuses_mismatched_vocabularies_and_empty_input():
    with pytest.raises(ValueError, match="vocabularies"):
        acceptance_report(tiny(0, 64), tiny(0, 32), TRAJ)
    with pytest.raises(ValueError, match="no generated"):
        acceptance_report(tiny(0), tiny(1), [([1, 2], [])])
