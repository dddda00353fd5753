"""The export graphs' attention over a KV cache held in graph inputs."""

from __future__ import annotations

import pytest
import torch

from conversion.graphs import window_and_new_attention
from modeling.model import attention_bias, grouped_attention


@pytest.mark.parametrize("n_kv", [1, 2, 4])
def test_window_and_new_attention_equals_writing_the_new_tokens_first(n_kv: int):
    """Attending over the untouched window plus the new tokens gives what the torch cache computes: the
    new K/V written at their positions (over stale slots), then attention under the causal mask by
    position. Rows at different positions, one with gaps between its new positions."""
    g = torch.Generator().manual_seed(0)
    b, heads, t, slots, d = 3, 4, 5, 40, 16
    q = torch.randn(b, heads, t, d, generator=g)
    k_win, v_win = torch.randn(b, n_kv, slots, d, generator=g), torch.randn(b, n_kv, slots, d, generator=g)
    k_new, v_new = torch.randn(b, n_kv, t, d, generator=g), torch.randn(b, n_kv, t, d, generator=g)
    positions = torch.tensor([[3, 4, 5, 6, 7], [20, 21, 22, 23, 24], [0, 2, 9, 10, 30]])
    index = positions[:, None, :, None].expand(-1, n_kv, -1, d)
    k_all, v_all = k_win.scatter(2, index, k_new), v_win.scatter(2, index, v_new)
    mask = (torch.arange(slots)[None, None, :] <= positions[:, :, None])[:, None]
    expected = grouped_attention(q, k_all, v_all, attention_bias(mask, heads // n_kv, q.dtype))
    actual = window_and_new_attention(q, k_win, v_win, k_new, v_new, positions)
    torch.testing.assert_close(actual, expected)
    stale = window_and_new_attention(q, k_win, v_win, k_new, v_new * 2, positions)
    assert not torch.allclose(stale, expected)  # the new tokens' values are read, not the window's
