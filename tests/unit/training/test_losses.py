"""Distillation losses: zero at the teacher, dense == sparse at k = V, gradients only where targets are."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from training.losses import (
    IGNORE,
    ce,
    dense_kl,
    dense_teacher_logprobs,
    generalized_jsd,
    nll,
    process_weights,
    teacher_topk_logprobs,
    topk_kl,
    weighted_mean,
)

V = 13


def _teacher(b: int, t: int, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Dense teacher logits and their top-k (ids, logprobs), as a KD mix stores them."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, t, V, generator=g) * 2
    lp, ids = torch.log_softmax(logits, -1).topk(k, dim=-1)
    return logits, ids, lp


def _implied_student(ids: torch.Tensor, lp: torch.Tensor, tail: str) -> torch.Tensor:
    """Student logits equal to the teacher's implied distribution (finite stand-in for -inf)."""
    return dense_teacher_logprobs(ids, lp, V, 1.0, tail).clamp(min=-1e4)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, V), tail=st.sampled_from(["zero", "uniform"]), temperature=st.sampled_from([0.5, 1.0, 2.0]),
       seed=st.integers(0, 10_000))
def test_kl_is_zero_when_the_student_is_the_teachers_implied_distribution(k, tail, temperature, seed):
    _, ids, lp = _teacher(2, 3, k, seed)
    mask = torch.ones(2, 3, dtype=torch.bool)
    kl = topk_kl(_implied_student(ids, lp, tail), ids, lp, mask, temperature, tail)
    assert kl.abs().max() < 1e-4
    other = topk_kl(torch.randn(2, 3, V), ids, lp, mask, temperature, tail)
    assert (other > 0).all()  # and positive away from it


@settings(max_examples=25, deadline=None)
@given(temperature=st.sampled_from([0.5, 1.0, 3.0]), tail=st.sampled_from(["zero", "uniform"]),
       seed=st.integers(0, 10_000))
def test_topk_kl_with_k_equal_vocab_is_the_dense_kl(temperature, tail, seed):
    teacher, ids, lp = _teacher(2, 4, V, seed)
    student = torch.randn(2, 4, V, generator=torch.Generator().manual_seed(seed + 1))
    mask = torch.ones(2, 4, dtype=torch.bool)
    dense = dense_kl(student, teacher, mask, temperature)
    assert torch.allclose(topk_kl(student, ids, lp, mask, temperature, tail), dense, atol=1e-5)
    # and against a hand-written KL at temperature 1
    p, q = torch.softmax(teacher, -1), torch.softmax(student, -1)
    assert torch.allclose(dense_kl(student, teacher, mask), (p * (p / q).log()).sum(-1), atol=1e-5)


@pytest.mark.parametrize("tail", ["zero", "uniform"])
def test_sparse_kl_equals_kl_against_the_dense_implied_teacher(tail):
    _, ids, lp = _teacher(3, 5, 4)
    student = torch.randn(3, 5, V)
    mask = torch.ones(3, 5, dtype=torch.bool)
    for temperature in (1.0, 2.0):
        implied = dense_teacher_logprobs(ids, lp, V, temperature, tail)
        assert torch.allclose(implied.exp().sum(-1), torch.ones(3, 5), atol=1e-5)
        logq = torch.log_softmax(student / temperature, -1)
        p = implied.exp()
        expected = torch.where(p > 0, p * (implied - logq), 0.0).sum(-1) * temperature**2
        assert torch.allclose(topk_kl(student, ids, lp, mask, temperature, tail), expected, atol=1e-5)


def test_tail_definitions():
    lp = torch.log(torch.tensor([[[0.5, 0.3]]]))
    top, other = teacher_topk_logprobs(lp, 6, 1.0, "uniform")
    assert torch.allclose(top.exp(), torch.tensor([[[0.5, 0.3]]]))
    assert math.isclose(other.exp().item(), 0.05, rel_tol=1e-5)
    top, other = teacher_topk_logprobs(lp, 6, 1.0, "zero")
    assert torch.allclose(top.exp(), torch.tensor([[[0.625, 0.375]]])) and other.item() == -math.inf
    top, _ = teacher_topk_logprobs(lp, 6, 2.0, "zero")  # temperature: p^(1/2), renormalised
    s = math.sqrt(0.5) + math.sqrt(0.3)
    assert torch.allclose(top.exp(), torch.tensor([[[math.sqrt(0.5) / s, math.sqrt(0.3) / s]]]))


@settings(max_examples=20, deadline=None)
@given(beta=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), tail=st.sampled_from(["zero", "uniform"]),
       k=st.integers(2, V), seed=st.integers(0, 10_000))
def test_jsd_is_zero_at_the_teacher_and_positive_elsewhere(beta, tail, k, seed):
    _, ids, lp = _teacher(2, 3, k, seed)
    mask = torch.ones(2, 3, dtype=torch.bool)
    teacher = dense_teacher_logprobs(ids, lp, V, 1.0, tail)
    assert generalized_jsd(_implied_student(ids, lp, tail), teacher, mask, beta).abs().max() < 1e-4
    if beta < 1.0 or tail == "uniform":  # reverse KL against a zero-tail teacher is infinite
        assert (generalized_jsd(torch.randn(2, 3, V), teacher, mask, beta) > 0).all()


def test_jsd_endpoints_are_forward_and_reverse_kl_and_symmetric_at_half():
    teacher, _, _ = _teacher(2, 3, V)
    student = torch.randn(2, 3, V)
    mask = torch.ones(2, 3, dtype=torch.bool)
    lp, lq = torch.log_softmax(teacher, -1), torch.log_softmax(student, -1)
    assert torch.allclose(generalized_jsd(student, lp, mask, 0.0), dense_kl(student, teacher, mask), atol=1e-5)
    assert torch.allclose(generalized_jsd(student, lp, mask, 1.0), dense_kl(teacher, student, mask), atol=1e-5)
    assert torch.allclose(generalized_jsd(student, lp, mask, 0.5), generalized_jsd(teacher, lq, mask, 0.5), atol=1e-5)
    assert (generalized_jsd(student, lp, mask, 0.5) <= math.log(2) + 1e-6).all()


def test_ce_is_zero_for_a_certain_correct_student_and_ignores_unlabelled_positions():
    targets = torch.tensor([[3, IGNORE, 5]])
    logits = torch.full((1, 3, V), -1e4)
    logits[0, 0, 3] = logits[0, 2, 5] = 0.0
    logits[0, 1] = torch.randn(V)
    assert ce(logits, targets).abs().max() < 1e-6
    assert torch.allclose(ce(torch.zeros(1, 3, V), targets), torch.tensor([[math.log(V), 0.0, math.log(V)]]))
    z = torch.randn(1, 3, V)
    assert torch.allclose(nll(torch.log_softmax(z, -1), targets), ce(z, targets), atol=1e-6)


def test_gradients_reach_only_masked_in_positions():
    _, ids, lp = _teacher(2, 6, 4)
    mask = torch.tensor([[1, 1, 0, 0, 1, 0], [0, 1, 1, 1, 0, 0]], dtype=torch.bool)
    targets = torch.where(mask, ids[..., 0], torch.full_like(ids[..., 0], IGNORE))
    weights = process_weights(6, {"tool_name": [(2, 4)]}, {"tool_name": 3.0}).expand(2, 6) * mask
    for tail in ("zero", "uniform"):
        dense = dense_teacher_logprobs(ids, lp, V, 2.0, tail)
        terms = {"kl": lambda z, t=tail: topk_kl(z, ids, lp, mask, 2.0, t),
                 "jsd": lambda z, d=dense: generalized_jsd(z, d, mask, 0.5, 2.0), "ce": lambda z: ce(z, targets)}
        for name, term in terms.items():
            logits = torch.randn(2, 6, V, requires_grad=True)
            weighted_mean(term(logits), weights).backward()
            touched = logits.grad.abs().sum(-1) > 0
            assert torch.equal(touched, mask), (name, tail)
            assert torch.isfinite(logits.grad).all()


def test_padding_rows_cannot_make_nan():
    ids = torch.zeros(1, 2, 3, dtype=torch.long)  # padded top-k rows: id 0 repeated, logprob 0
    lp = torch.zeros(1, 2, 3)
    lp[0, 0] = torch.log(torch.tensor([0.6, 0.3, 0.05]))
    ids[0, 0] = torch.tensor([1, 2, 3])
    mask = torch.tensor([[True, False]])
    logits = torch.randn(1, 2, V, requires_grad=True)
    loss = topk_kl(logits, ids, lp, mask, 1.0, "uniform").sum()
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all() and logits.grad[0, 1].abs().sum() == 0


def test_process_weight_of_target_token_j_sits_at_logits_position_j_minus_1():
    w = process_weights(8, {"tool_name": [(3, 5)], "json_args": [(5, 7)]}, {"tool_name": 2.0, "json_args": 4.0})
    assert w.tolist() == [1, 1, 2, 2, 4, 4, 1, 1]
    w = process_weights(6, {"integration": [(0, 2)]}, {"integration": 5.0}, offset=3)  # spans into a suffix
    assert w.tolist() == [1, 1, 5, 5, 1, 1]
    assert process_weights(3, {"tool_name": [(0, 1)]}, {"tool_name": 9.0}).tolist() == [1, 1, 1]  # token 0: no position
