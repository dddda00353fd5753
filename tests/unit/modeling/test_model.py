"""The decoder: causal, position-consistent, padding-safe, cache-correct, judge heads on the last token."""

from __future__ import annotations

import pytest
import torch

from modeling.config import LinearRopeScaling, Llama3RopeScaling
from modeling.model import (
    Ragged,
    Transformer,
    apply_rope,
    attention_bias,
    causal_prefix,
    grouped_attention,
    last_real_index,
    rope_tables,
    rotate_half_matrix,
    target_queries,
)
from tests.unit.modeling.helpers import random_ids, role_config, tiny_model

TOL = 1e-4


def decode_incrementally(model: Transformer, idx: torch.Tensor, prefill: int) -> torch.Tensor:
    model.setup_caches(idx.shape[0], model.config.max_seq_len)
    chunks = [model(idx[:, :prefill], torch.arange(prefill))]
    for t in range(prefill, idx.shape[1]):
        chunks.append(model(idx[:, t : t + 1], torch.tensor([t])))
    return torch.cat(chunks, dim=1)


@torch.no_grad()
def test_future_tokens_never_change_earlier_logits():
    model = tiny_model()
    idx = random_ids(model, 2, 24)
    changed = idx.clone()
    changed[:, 12:] = (changed[:, 12:] + 1) % model.config.vocab_size
    a, b = model(idx), model(changed)
    assert (a[:, :12] - b[:, :12]).abs().max() == 0
    assert (a[:, 12:] - b[:, 12:]).abs().max() > 1e-3


@torch.no_grad()
def test_logits_at_selected_positions_equal_the_full_logits():
    model = tiny_model()
    idx = random_ids(model, 3, 20)
    at = torch.rand(3, 20, generator=torch.Generator().manual_seed(0)) < 0.3
    picked = model(idx, logits_at=at)
    assert picked.shape == (1, int(at.sum()), model.config.vocab_size)
    assert (picked[0] - model(idx)[at]).abs().max() <= TOL


def test_target_queries_list_each_rows_targets_in_order_then_fill_to_a_bucket():
    at = torch.zeros(3, 40, dtype=torch.bool)
    at[0, [3, 7, 30]] = True
    at[2, 5:22] = True  # 17 targets: Q rounds up to 32
    index, real = target_queries(at)
    assert index.shape == real.shape == (3, 32)
    assert index[0, :3].tolist() == [3, 7, 30] and real[0].sum() == 3 and not real[1].any()
    assert index[2, :17].tolist() == list(range(5, 22)) and real[2].sum() == 17
    rows = torch.arange(3)[:, None].expand_as(index)
    assert torch.equal(index[real], at.nonzero()[:, 1]) and torch.equal(rows[real], at.nonzero()[:, 0])
    assert target_queries(torch.ones(2, 20, dtype=torch.bool))[0].shape == (2, 20)  # never past T


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_logits_at_with_the_last_block_at_targets_only_equal_the_full_path_with_gradients(layers: int):
    """The last block runs at the target positions only (hidden_states' query_at): the same logits and
    the same gradients as the full forward gathered at the targets, also for rows without targets."""
    model = tiny_model(n_layers=layers)
    idx = random_ids(model, 4, 48)
    at = torch.rand(4, 48, generator=torch.Generator().manual_seed(1)) < 0.2
    at[2] = False
    fast = model(idx, logits_at=at)
    assert fast.shape == (1, int(at.sum()), model.config.vocab_size)
    grads_fast = torch.autograd.grad(fast.square().mean(), list(model.parameters()))
    full = model(idx)[at][None]
    assert (fast - full).abs().max() <= TOL
    grads_full = torch.autograd.grad(full.square().mean(), list(model.parameters()))
    for a, b in zip(grads_fast, grads_full, strict=True):
        assert (a - b).abs().max() <= 1e-5 * max(1.0, float(b.abs().max()))


@torch.no_grad()
def test_logits_at_follow_an_explicit_mask_and_per_row_positions():
    """A parallel drafter's batch: appended tokens at their own positions under an explicit mask."""
    from training.parallel_draft import add_draft_groups

    model = tiny_model()
    idx = random_ids(model, 3, 30)
    cuts = torch.tensor([[4, 11], [20, -1], [0, 25]])
    x2, positions, attn, _ = add_draft_groups(idx, cuts, 3, 0)
    at = torch.rand(x2.shape, generator=torch.Generator().manual_seed(2)) < 0.3
    full = model(x2, positions, attn_mask=attn)[at][None]
    assert (model(x2, positions, attn_mask=attn, logits_at=at) - full).abs().max() <= TOL


def ragged_row(model: Transformer, lengths: list[int], seed: int = 1) -> tuple[list[torch.Tensor], torch.Tensor,
                                                                                 torch.Tensor, Ragged]:
    """Sequences of these lengths, and the same laid end to end: (sequences, ids [1, N], positions [N], layout)."""
    seqs = [random_ids(model, 1, n, seed=seed + i)[0] for i, n in enumerate(lengths)]
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    layout = Ragged(tuple((s, s + n) for s, n in zip(starts, lengths, strict=True)), (None,) * len(lengths))
    return seqs, torch.cat(seqs)[None], torch.cat([torch.arange(n) for n in lengths]), layout


def test_a_ragged_row_gives_each_sequence_its_own_forward_with_gradients():
    """Sequences end to end in one row attend within themselves only, at their own positions: the logits
    (all of them, or at chosen tokens with the last block at those only) and the gradients of each
    sequence's forward alone."""
    model = tiny_model()
    seqs, idx, pos, layout = ragged_row(model, [17, 5, 30, 1])
    alone = torch.cat([model(s[None])[0] for s in seqs])[None]
    torch.testing.assert_close(model(idx, pos, ragged=layout), alone, atol=TOL, rtol=TOL)
    at = torch.rand(idx.shape, generator=torch.Generator().manual_seed(3)) < 0.3
    at[0, 17:22] = False  # a sequence without targets
    fast = model(idx, pos, logits_at=at, ragged=layout)
    assert (fast - alone[at][None]).abs().max() <= TOL
    grads_fast = torch.autograd.grad(fast.square().mean(), list(model.parameters()))
    grads_alone = torch.autograd.grad(alone[at][None].square().mean(), list(model.parameters()))
    for a, b in zip(grads_fast, grads_alone, strict=True):
        assert (a - b).abs().max() <= 1e-5 * max(1.0, float(b.abs().max()))


@torch.no_grad()
def test_a_ragged_sequence_never_sees_its_neighbours():
    model = tiny_model()
    _, idx, pos, layout = ragged_row(model, [12, 12])
    other = idx.clone()
    other[0, 12:] = random_ids(model, 1, 12, seed=9)[0]
    torch.testing.assert_close(model(other, pos, ragged=layout)[0, :12], model(idx, pos, ragged=layout)[0, :12])
    other = idx.clone()
    other[0, :12] = random_ids(model, 1, 12, seed=9)[0]
    torch.testing.assert_close(model(other, pos, ragged=layout)[0, 12:], model(idx, pos, ragged=layout)[0, 12:])


@torch.no_grad()
def test_a_ragged_sequence_keeps_its_own_mask():
    """A parallel drafter's sequences (explicit masks, appended pads at their own positions) laid end to end
    give the logits of their padded batch."""
    from training.parallel_draft import add_draft_groups

    model = tiny_model()
    idx = random_ids(model, 2, 20)
    x2, positions, attn, _ = add_draft_groups(idx, torch.tensor([[4, 11], [15, -1]]), 3, 0)
    padded = model(x2, positions, attn_mask=attn)
    n = x2.shape[1]
    layout = Ragged(((0, n), (n, 2 * n)), (attn[0, 0], attn[1, 0]))
    ragged = model(x2.reshape(1, -1), positions.reshape(-1), ragged=layout)
    torch.testing.assert_close(ragged[0], padded.reshape(2 * n, -1), atol=TOL, rtol=TOL)
    at = torch.rand(1, 2 * n, generator=torch.Generator().manual_seed(4)) < 0.3
    fast = model(x2.reshape(1, -1), positions.reshape(-1), logits_at=at, ragged=layout)
    assert (fast - ragged[at][None]).abs().max() <= TOL


def test_a_masked_ragged_sequence_attends_its_causal_prefix_apart_with_the_same_gradients():
    """A parallel drafter's real tokens (a causal prefix of its mask) attend in a causal call of their own,
    its pads in a masked one: logits and gradients stay those of the padded batch, also where a sequence's
    targets all lie in its prefix."""
    from training.parallel_draft import add_draft_groups

    model = tiny_model()
    idx = random_ids(model, 2, 20)
    x2, positions, attn, _ = add_draft_groups(idx, torch.tensor([[4, 11], [15, -1]]), 3, 0)
    n = x2.shape[1]
    layout = Ragged(((0, n), (n, 2 * n)), (attn[0, 0], attn[1, 0]))
    assert layout.prefixes == (20, 20) and causal_prefix(torch.ones(5, 5, dtype=torch.bool).tril()) == 5
    at = torch.zeros(2, n, dtype=torch.bool)
    at[0, [3, 9, 21, 25]] = True  # prefix and pads
    at[1, [2, 7, 19]] = True  # prefix only
    padded = model(x2, positions, attn_mask=attn)[at][None]
    ragged = model(x2.reshape(1, -1), positions.reshape(-1), logits_at=at.reshape(1, -1), ragged=layout)
    assert (ragged - padded).abs().max() <= TOL
    grads_ragged = torch.autograd.grad(ragged.square().mean(), list(model.parameters()))
    grads_padded = torch.autograd.grad(padded.square().mean(), list(model.parameters()))
    for a, b in zip(grads_ragged, grads_padded, strict=True):
        assert (a - b).abs().max() <= 1e-5 * max(1.0, float(b.abs().max()))
    full = model(x2.reshape(1, -1), positions.reshape(-1), ragged=layout)[0]
    torch.testing.assert_close(full, model(x2, positions, attn_mask=attn).reshape(2 * n, -1), atol=TOL, rtol=TOL)


def test_a_ragged_row_is_refused_when_it_is_not_one():
    model = tiny_model()
    _, idx, pos, layout = ragged_row(model, [6, 6])
    with pytest.raises(ValueError, match="cover"):
        model(idx, pos, ragged=Ragged(((0, 6), (7, 12)), (None, None)))
    with pytest.raises(ValueError, match="cover"):
        model(idx, pos, ragged=Ragged(((0, 6),), (None,)))
    with pytest.raises(ValueError, match=r"idx \[1, N\]"):
        model(idx.view(2, 6), pos.view(2, 6), ragged=layout)
    with pytest.raises(ValueError, match=r"input_pos \[N\]"):
        model(idx, None, ragged=layout)


@torch.no_grad()
def test_logits_at_respect_the_padding_mask():
    model = tiny_model()
    idx = random_ids(model, 2, 24)
    pad = torch.ones(2, 24, dtype=torch.long)
    pad[1, 17:] = 0
    at = torch.zeros(2, 24, dtype=torch.bool)
    at[0, [2, 9, 23]] = True
    at[1, [5, 16]] = True
    full = model(idx, attention_mask=pad)[at][None]
    assert (model(idx, attention_mask=pad, logits_at=at) - full).abs().max() <= TOL


@torch.no_grad()
def test_incremental_decode_equals_full_forward():
    model = tiny_model()
    idx = random_ids(model, 3, 40)
    full = model(idx)
    assert (decode_incrementally(model, idx, prefill=9) - full).abs().max() <= TOL


@torch.no_grad()
def test_rejected_tokens_need_no_rollback():
    """Drafts 10..14 of which two are accepted: decoding on from 12 matches a clean full forward."""
    model = tiny_model()
    idx = random_ids(model, 1, 20)
    full = model(idx)
    model.setup_caches(1, model.config.max_seq_len)
    model(idx[:, :10], torch.arange(10))
    drafts = torch.cat([idx[:, 10:12], random_ids(model, 1, 3, seed=7)], 1)
    model(drafts, torch.arange(10, 15))  # verify pass; positions 12..14 are rejected
    resumed = model(idx[:, 12:], torch.arange(12, 20))  # overwrites the stale slots
    assert (resumed - full[:, 12:]).abs().max() <= TOL


@torch.no_grad()
@pytest.mark.parametrize("side", ["left", "right"])
def test_padded_row_equals_the_unpadded_row(side: str):
    model = tiny_model()
    short, long_ = random_ids(model, 1, 11, seed=2), random_ids(model, 1, 16, seed=3)
    pad = torch.full((1, 5), model.config.pad_token_id)
    row = torch.cat([pad, short], 1) if side == "left" else torch.cat([short, pad], 1)
    mask = (torch.arange(16) >= 5) if side == "left" else (torch.arange(16) < 11)
    batch = torch.cat([row, long_])
    attention_mask = torch.stack([mask, torch.ones(16, dtype=torch.bool)]).long()
    out = model(batch, attention_mask=attention_mask)
    real = out[0, 5:] if side == "left" else out[0, :11]
    assert not out.isnan().any()
    assert (real - model(short)[0]).abs().max() <= TOL
    assert (out[1] - model(long_)[0]).abs().max() <= TOL


@torch.no_grad()
def test_left_padded_prefill_then_decode_with_cache():
    """A mask over the prompt positions keeps working while decode appends real tokens beyond it."""
    model = tiny_model()
    prompt, cont = random_ids(model, 1, 6, seed=4), random_ids(model, 1, 4, seed=5)
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), prompt], 1)
    mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1, 1]])
    model.setup_caches(1, model.config.max_seq_len)
    steps = [model(padded, torch.arange(9), mask)[:, -1:]]
    for i in range(3):
        steps.append(model(cont[:, i : i + 1], torch.tensor([9 + i]), mask))
    model.clear_caches()
    reference = model(torch.cat([prompt, cont[:, :3]], 1))[:, 5:]
    assert (torch.cat(steps, 1) - reference).abs().max() <= TOL


def test_setup_caches_bounds_and_reuse():
    model = tiny_model()
    with pytest.raises(ValueError, match="exceeds the model's 64"):
        model.setup_caches(1, 65)
    model.setup_caches(2, 32)
    cache = model.model.layers[0].self_attn.kv_cache
    assert cache is not None and tuple(cache.k_cache.shape) == (2, 2, 32, 8)  # [B, Hkv, S, Dh]
    model.setup_caches(1, 16)
    assert model.model.layers[0].self_attn.kv_cache is cache


def test_mlp_width_comes_from_the_config():
    model = tiny_model(intermediate_size=40)
    assert tuple(model.model.layers[0].mlp.gate_proj.weight.shape) == (40, 32)


def test_tied_embeddings_share_one_parameter():
    model = tiny_model(tie_embeddings=True)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    untied = tiny_model()
    assert untied.lm_head.weight is not untied.model.embed_tokens.weight


def test_rope_angles_do_not_depend_on_sequence_length():
    cos, _ = rope_tables(role_config().model)
    model = tiny_model()
    assert torch.equal(model.rope_cos, cos)
    assert torch.allclose(cos[:, 0], torch.cos(torch.arange(64.0)))  # first frequency is 1 rad/pos


def test_linear_rope_scaling_divides_every_frequency():
    plain, _ = rope_tables(role_config().model)
    scaled, _ = rope_tables(role_config(rope_scaling={"type": "linear", "factor": 4.0}).model)
    assert torch.allclose(scaled[8], plain[2])  # position 8 at factor 4 = position 2 unscaled


def test_llama3_rope_scaling_matches_transformers():
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    s = Llama3RopeScaling(type="llama3", factor=8.0, original_max_position_embeddings=16)
    ours = rope_tables(role_config(rope_scaling=s.model_dump()).model)[0]
    rope = {"rope_type": "llama3", "rope_theta": 500.0, **s.model_dump(exclude={"type"})}
    hf = LlamaConfig(
        hidden_size=32, num_attention_heads=4, head_dim=8, max_position_embeddings=64, rope_parameters=rope
    )
    inv_freq, _ = ROPE_INIT_FUNCTIONS["llama3"](hf)
    expected = torch.cos(torch.outer(torch.arange(64.0), inv_freq))
    assert torch.allclose(ours[:, :4], expected, atol=1e-6)
    assert not torch.allclose(ours, rope_tables(role_config().model)[0])
    assert LinearRopeScaling(type="linear", factor=2.0).factor == 2.0


@torch.no_grad()
def test_judge_reads_the_last_real_token():
    model = tiny_model(role="judge")
    short = random_ids(model, 1, 7, seed=6)
    left = torch.cat([torch.zeros(1, 3, dtype=torch.long), short], 1)
    right = torch.cat([short, torch.zeros(1, 3, dtype=torch.long)], 1)
    lmask = torch.tensor([[0, 0, 0] + [1] * 7])
    score, clauses = model.judge(short)
    assert score.shape == (1,) and clauses.shape == (1, 5)
    for idx, mask in ((left, lmask), (right, lmask.flip(1))):
        s, c = model.judge(idx, mask)
        assert (s - score).abs().max() <= TOL and (c - clauses).abs().max() <= TOL


@pytest.mark.parametrize("layers", [1, 3])
def test_last_states_equal_the_full_forward_at_the_last_real_token(layers: int):
    """The judge's shortcut (last block for one query per row) = the full forward read at that token,
    in values and in gradients, for left, right and no padding."""
    model = tiny_model(role="judge", n_layers=layers)
    idx = random_ids(model, 3, 11, seed=7)
    mask = torch.tensor([[1] * 11, [0, 0, 0] + [1] * 8, [1] * 6 + [0] * 5])
    for m in (mask, None):
        full = model.hidden_states(idx, attention_mask=m)[torch.arange(3), last_real_index(idx, m)]
        fast = model.last_states(idx, m)
        assert (full - fast).abs().max() <= 1e-5
        grads = []
        for out in (full, fast):
            model.zero_grad()
            out.pow(2).sum().backward(retain_graph=True)
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-4)


def test_last_states_refuse_a_model_with_caches():
    model = tiny_model(role="judge")
    model.setup_caches(1, 16)
    with pytest.raises(ValueError, match="without KV caches"):
        model.last_states(random_ids(model, 1, 5, seed=1))


def test_last_real_index_handles_both_paddings():
    idx = torch.zeros(3, 5, dtype=torch.long)
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert last_real_index(idx, mask).tolist() == [2, 4, 4]
    assert last_real_index(idx, None).tolist() == [4, 4, 4]


def test_judge_without_heads_refuses():
    with pytest.raises(RuntimeError, match="no judge heads"):
        tiny_model().judge(torch.zeros(1, 3, dtype=torch.long))


def test_mask_longer_than_keys_is_refused():
    model = tiny_model()
    with pytest.raises(ValueError, match="covers 5 keys, only 4 exist"):
        model(torch.zeros(1, 4, dtype=torch.long), attention_mask=torch.ones(1, 5))


def test_from_name_builds_a_committed_config():
    model = Transformer.from_name("worker_tiny")
    assert model.config.vocab_size == 512 and len(model.model.layers) == 2


def test_param_groups_split_matrices_from_vectors():
    model = tiny_model(tie_embeddings=True)
    decay, no_decay = model.param_groups(0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    total = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
    assert total == sum(p.numel() for p in model.parameters())  # the tied matrix counted once


@torch.no_grad()
def test_decode_step_exports_with_plain_ops():
    """torch.export captures a cached decode step; the graph holds no data-dependent ops."""
    model = tiny_model()
    model.setup_caches(1, 32)
    args = (torch.zeros(1, 1, dtype=torch.long), torch.tensor([3]), torch.ones(1, 32, dtype=torch.long))
    program = torch.export.export(model, args)
    ops = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert not {o for o in ops if any(bad in o for bad in ("diff", "nonzero", "repeat_interleave", "item"))}
    assert torch.allclose(program.module()(*args), model(*args))


@pytest.mark.parametrize("t", [1, 5])
def test_grouped_attention_equals_attention_over_repeated_kv(t: int):
    """Query head h reads KV head h // (H / Hkv), as HF's repeat_kv lays it out, under a per-row mask."""
    q, k, v = torch.randn(2, 8, t, 16), torch.randn(2, 2, 11, 16), torch.randn(2, 2, 11, 16)
    mask = torch.rand(2, 1, t, 11) > 0.3
    mask[..., 0] = True  # every query sees a key
    repeated = [x.repeat_interleave(4, dim=1) for x in (k, v)]
    expected = torch.nn.functional.scaled_dot_product_attention(q, *repeated, attn_mask=mask)
    actual = grouped_attention(q, k, v, attention_bias(mask, 4, torch.float32))
    torch.testing.assert_close(actual, expected.transpose(1, 2).reshape(2, t, 128))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rope_matrix_rotation_is_exactly_rotate_half(dtype: torch.dtype):
    """The rotation as a matmul gives HF's rotate_half bit for bit, so our logits keep matching HF's."""
    x = torch.randn(2, 4, 7, 32, dtype=dtype)
    cos, sin = (t[torch.arange(7)].to(dtype) for t in rope_tables(Transformer.from_name("worker_toy").config))
    rotated = torch.cat((-x[..., 16:], x[..., :16]), dim=-1)
    assert torch.equal(apply_rope(x, cos, sin, rotate_half_matrix(32).to(dtype)), x * cos + rotated * sin)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_attention_bias_is_finite_and_masks_exactly(dtype: torch.dtype):
    """The additive mask stays finite in fp16 (a Core ML program computes in it) and still gives masked
    keys exactly zero weight, next to large negative scores too."""
    mask = torch.tensor([[True, False, True, False]])[None, None]  # [1, 1, 1, 4]
    bias = attention_bias(mask, 2, dtype)
    assert bias.shape == (1, 1, 2, 4) and bias.dtype == dtype and torch.isfinite(bias).all()
    scores = torch.tensor([-60.0, 40.0, -50.0, -60.0], dtype=dtype)
    weights = (scores + bias[0, 0, 0]).float().softmax(-1)
    assert weights[1] == 0 and weights[3] == 0 and torch.isfinite(scores + bias).all()
    assert weights[0] > 0 and weights[2] > 0
