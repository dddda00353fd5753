"""Batched KV-cache decoding equals decoding each prompt alone without a cache."""

import torch

from modeling.config import load_role_config
from modeling.generate import generate_batch, greedy
from modeling.model import Transformer


def _reference(model: Transformer, prompt: list[int], n: int, stop: set[int]) -> list[int]:
    ids: list[int] = []
    with torch.no_grad():
        for _ in range(n):
            token = int(model(torch.tensor([prompt + ids]))[0, -1].argmax())
            ids.append(token)
            if token in stop:
                break
    return ids


def test_rows_of_different_lengths_decode_as_they_would_alone():
    torch.manual_seed(0)
    model = Transformer(load_role_config("worker_tiny").model).eval()
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(3, 512, (n,), generator=g).tolist() for n in (5, 17, 9, 30)]
    stop = {int(model(torch.tensor([prompts[2]]))[0, -1].argmax())}  # row 2 stops at once, the others run on
    results = generate_batch(model, prompts, 12, stop)
    for prompt, (ids, reason) in zip(prompts, results, strict=True):
        expected = _reference(model, prompt, 12, stop)
        assert (ids if reason is None else [*ids, reason]) == expected == greedy(model, prompt, 12, stop)
    assert results[2] == ([], next(iter(stop)))


def test_sampling_is_per_row_reproducible_and_limits_hold():
    torch.manual_seed(0)
    model = Transformer(load_role_config("worker_tiny").model).eval()
    prompts = [[5, 6, 7], [8, 9, 10, 11, 12]]
    a = generate_batch(model, prompts, 6, set(), temperature=1.0, seeds=[3, 4])
    b = generate_batch(model, prompts[1:], 6, set(), temperature=1.0, seeds=[4])
    assert a[1] == b[0] and all(len(ids) == 6 and stop is None for ids, stop in a)
    near_end = [[5] * (model.config.max_seq_len - 2)]  # the context bounds the new tokens
    assert len(generate_batch(model, near_end, 6, set())[0][0]) == 2
