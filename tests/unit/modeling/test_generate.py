"""Batched KV-cache decoding equals decoding each prompt alone without a cache."""

import json

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


def test_constrained_rows_follow_their_grammar_and_free_rows_do_not_change(tokenizer):
    """A row with a tool-call constraint (tool_choice required) writes a parseable call with valid
    arguments; the unconstrained row beside it decodes as it would alone."""
    from modeling.chat import END, parse_tool_calls
    from modeling.constrained import ConstraintSpec, Grammars, ToolSpec

    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}},
              "required": ["n"], "additionalProperties": False}
    cfg = load_role_config("worker_tiny").model.model_copy(update={"vocab_size": tokenizer.vocab_size})
    torch.manual_seed(0)
    model = Transformer(cfg).eval()
    spec = ConstraintSpec("tools", tools=(ToolSpec("count", schema),), mode="required", parallel=False)
    constraint = Grammars.for_tokenizer(tokenizer).compile(spec)()
    prompts = [tokenizer.encode("<|bos|><|user|>go<|end|><|assistant|>")] * 2
    (ids, stop), free = generate_batch(model, prompts, 64, {tokenizer.end_id}, constraints=[constraint, None])
    assert stop == tokenizer.end_id
    content, calls = parse_tool_calls(tokenizer.decode(ids).removesuffix(END))
    assert content == "" and len(calls) == 1 and calls[0][0] == "count"
    assert 0 <= json.loads(calls[0][1])["n"] <= 9
    assert free == generate_batch(model, prompts[1:], 64, {tokenizer.end_id})[0]
