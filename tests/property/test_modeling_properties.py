"""Property tests of the decoder over random architectures (hypothesis).

For any config: decoding incrementally with the KV cache (random prefill and chunk sizes) gives the
full-sequence logits, and changing a future token never changes an earlier logit. Together they prove
the causal mask and that RoPE depends on absolute position only.
"""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modeling.config import ModelConfig
from modeling.model import Transformer

TOL = 1e-4
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def architectures(draw: st.DrawFn) -> ModelConfig:
    n_heads = draw(st.sampled_from([1, 2, 4]))
    # Hkv in {1, 2, H}: multi-query, grouped and full multi-head attention.
    n_kv_heads = draw(st.sampled_from(sorted({1, n_heads, 2 if n_heads % 2 == 0 else 1})))
    d_head = draw(st.sampled_from([4, 8, 16]))
    scaling = draw(
        st.sampled_from(
            [
                None,
                {"type": "linear", "factor": 2.0},
                {"type": "llama3", "factor": 4.0, "original_max_position_embeddings": 8},
            ]
        )
    )
    return ModelConfig(
        vocab_size=draw(st.integers(8, 64)),
        d_model=n_heads * d_head,
        n_layers=draw(st.integers(1, 3)),
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        d_head=d_head,
        intermediate_size=draw(st.integers(4, 48)),
        max_seq_len=48,
        rope_theta=draw(st.sampled_from([100.0, 10000.0])),
        rope_scaling=scaling,
        tie_embeddings=draw(st.booleans()),
    )


def build(config: ModelConfig, seed: int) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(config).eval()


@SETTINGS
@given(
    config=architectures(),
    batch=st.integers(1, 3),
    length=st.integers(2, 40),
    data=st.data(),
)
@torch.no_grad()
def test_incremental_decode_equals_full_forward(config: ModelConfig, batch: int, length: int, data: st.DataObject):
    model = build(config, data.draw(st.integers(0, 2**16)))
    idx = torch.randint(0, config.vocab_size, (batch, length))
    full = model(idx)
    model.setup_caches(batch, data.draw(st.integers(length, config.max_seq_len)))
    pos, chunks = 0, []
    while pos < length:
        step = data.draw(st.integers(1, length - pos))
        chunks.append(model(idx[:, pos : pos + step], torch.arange(pos, pos + step)))
        pos += step
    assert (torch.cat(chunks, dim=1) - full).abs().max().item() <= TOL


@SETTINGS
@given(config=architectures(), length=st.integers(2, 40), data=st.data())
@torch.no_grad()
def test_future_tokens_never_change_earlier_logits(config: ModelConfig, length: int, data: st.DataObject):
    model = build(config, data.draw(st.integers(0, 2**16)))
    idx = torch.randint(0, config.vocab_size, (2, length))
    cut = data.draw(st.integers(1, length - 1))
    changed = idx.clone()
    changed[:, cut:] = torch.randint(0, config.vocab_size, (2, length - cut))
    assert torch.equal(model(idx)[:, :cut], model(changed)[:, :cut])
