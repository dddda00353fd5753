"""Constrained decoding, detokenization and protocol translation, without a server or a model."""

from __future__ import annotations

import json

import jsonschema
import pytest
import torch

from modeling.chat import SPECIAL_TOKENS, TOOL_ARGS, TOOL_CALL, TOOL_CALL_END
from modeling.constrained import NEG_INF, ConstraintError, ConstraintSpec, Grammars, ToolSpec
from service.api.protocol import ChatCompletionRequest
from service.engine.detokenize import ChoiceDecoder, StopMatcher

SCHEMA = {"type": "object", "properties": {"path": {"type": "string", "maxLength": 8},
                                           "n": {"type": "integer", "minimum": 0, "maximum": 99}},
          "required": ["path", "n"], "additionalProperties": False}


@pytest.fixture(scope="module")
def special(tokenizer):
    return {t: tokenizer.tk.token_to_id(t) for t in SPECIAL_TOKENS}


@pytest.fixture(scope="module")
def grammars(tokenizer):
    return Grammars.for_tokenizer(tokenizer)


def random_walk(constraint, vocab: int, seed: int, steps: int = 300) -> list[int]:
    """Sample uniformly among the allowed tokens until the end token."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        logits = constraint.mask(torch.randn(vocab, generator=g))
        allowed = torch.nonzero(logits > NEG_INF).flatten()
        token = int(allowed[torch.randint(len(allowed), (1,), generator=g)])
        out.append(token)
        constraint.advance(token)
        if token == 2:
            break
    return out


def test_json_schema_walks_always_validate(tokenizer, grammars) -> None:
    """Any path through the mask is a compact document that validates, ended by <|end|>."""
    factory = grammars.compile(ConstraintSpec("json", schema=SCHEMA))
    for seed in range(20):
        out = random_walk(factory(), tokenizer.vocab_size, seed)
        assert out[-1] == tokenizer.end_id
        jsonschema.validate(json.loads(tokenizer.decode(out[:-1])), SCHEMA)


def test_required_tool_calls_always_parse(tokenizer, grammars, special) -> None:
    """tool_choice required: <|tool_call|>name<|tool_args|>{valid args}<|/tool_call|> ... <|end|>."""
    small = {"type": "object", "properties": {"q": {"type": "string", "maxLength": 4}}, "additionalProperties": False}
    tools = (ToolSpec("read_file", SCHEMA), ToolSpec("web.search", small))
    factory = grammars.compile(ConstraintSpec("tools", tools=tools, mode="required", parallel=True))
    for seed in range(20):
        out = random_walk(factory(), tokenizer.vocab_size, seed)
        assert out[0] == special[TOOL_CALL] and out[-1] == tokenizer.end_id
        decoder = ChoiceDecoder(tokenizer.token_bytes, special)
        delta = decoder.feed(out)
        assert delta.content == "" and delta.tool_calls
        calls: dict[int, dict] = {}
        for d in delta.tool_calls:
            calls.setdefault(d.index, {"name": d.name, "arguments": ""})["arguments"] += d.arguments
        for call in calls.values():
            args = json.loads(call["arguments"])
            if call["name"] == "read_file":
                jsonschema.validate(args, SCHEMA)
            else:
                assert call["name"] == "web.search"
                jsonschema.validate(args, small)


def test_tool_choice_none_bans_calls_and_auto_allows_them(tokenizer, grammars, special) -> None:
    tools = (ToolSpec("read_file", SCHEMA),)
    none = grammars.compile(ConstraintSpec("tools", tools=tools, mode="none"))()
    logits = none.mask(torch.zeros(tokenizer.vocab_size))
    assert logits[special[TOOL_CALL]] == NEG_INF and logits[100] == 0
    auto = grammars.compile(ConstraintSpec("tools", tools=tools, mode="auto"))()
    assert auto.mask(torch.zeros(tokenizer.vocab_size))[special[TOOL_CALL]] == 0
    auto.advance(special[TOOL_CALL])
    name_logits = auto.mask(torch.zeros(tokenizer.vocab_size))
    assert name_logits[special[TOOL_ARGS]] == NEG_INF  # the name is not complete yet
    assert name_logits[tokenizer.end_id] == NEG_INF


def test_bad_schema_is_a_constraint_error(grammars) -> None:
    with pytest.raises(ConstraintError):
        grammars.compile(ConstraintSpec("json", schema={"type": "object", "properties": {"a": {"type": "nope"}}}))


def test_stop_matcher_holds_back_prefixes() -> None:
    m = StopMatcher(["STOP", "\n\n"])
    assert m.feed("hello S") == ("hello ", False)
    assert m.feed("T") == ("", False)
    assert m.feed("x and \n") == ("STx and ", False)
    assert m.feed("\nrest") == ("", True)
    m2 = StopMatcher(["abc"])
    assert m2.feed("xxab") == ("xx", False) and m2.flush() == "ab"


def test_decoder_streams_utf8_and_tool_calls(tokenizer, special) -> None:
    """Multi-byte characters split across tokens come out whole; tool markup becomes deltas."""
    text = "héllo → wörld"
    ids = tokenizer.encode(text)
    decoder = ChoiceDecoder(tokenizer.token_bytes, special)
    pieces = [decoder.feed([i]).content for i in ids]
    assert "".join(pieces) == text and all("\ufffd" not in p for p in pieces)
    call = [special[TOOL_CALL], *tokenizer.encode("read_file"), special[TOOL_ARGS],
            *tokenizer.encode('{"path":"a.py"}'), special[TOOL_CALL_END], tokenizer.end_id]
    deltas = [decoder.feed([t]) for t in call]
    first = next(d for dl in deltas for d in dl.tool_calls)
    assert first.index == 0 and first.name == "read_file" and first.id.startswith("call_")
    assert "".join(d.arguments for dl in deltas for d in dl.tool_calls) == '{"path":"a.py"}'
    assert decoder.num_tool_calls == 1


def _request(**kw) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "worker", "messages": [{"role": "user", "content": "x"}],
                                                 **kw})


def test_to_generation_params_resolution() -> None:
    """max_completion_tokens wins over max_tokens; both are capped by the room left in the context."""
    assert _request(max_tokens=10, max_completion_tokens=5).to_generation_params(100).max_tokens == 5
    assert _request(max_tokens=500).to_generation_params(100).max_tokens == 100
    p = _request(temperature=0, top_k=-1, logprobs=True, top_logprobs=4, seed=3).to_generation_params(50)
    assert p.greedy and p.top_k == 0 and p.logprobs == 4 and p.max_tokens == 50 and p.seed == 3
    assert _request().to_generation_params(7).logprobs is None


def test_constraint_spec_selection() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": SCHEMA}},
             {"type": "function", "function": {"name": "g"}}]
    named = _request(tools=tools, tool_choice={"type": "function", "function": {"name": "g"}}).constraint_spec()
    assert named.mode == "named" and [t.name for t in named.tools] == ["g"]
    assert _request(tools=tools).constraint_spec().mode == "auto"
    strict = {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA, "strict": True}}
    assert _request(response_format=strict).constraint_spec().schema == SCHEMA
    loose = {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}
    assert _request(response_format=loose).constraint_spec().schema is None
    assert _request(response_format={"type": "text"}).constraint_spec() is None


@pytest.mark.parametrize(("body", "param"), [
    ({"n": 9}, "n"), ({"top_logprobs": 3}, None), ({"temperature": 3}, "temperature"),
    ({"tool_choice": {"type": "function", "function": {"name": "zzz"}}}, None),
])
def test_invalid_requests_name_the_field(body, param) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as err:
        _request(**body)
    if param:
        assert err.value.errors()[0]["loc"][0] == param


def test_schema_patterns_are_searches_as_in_json_schema(tokenizer, grammars) -> None:
    """`^https://...example.org/` accepts whole URLs (a JSON Schema pattern is not anchored at its end);
    xgrammar alone would cut every URL off after the host."""
    from xgrammar.testing import _is_grammar_accept_string

    schema = {"type": "object", "properties": {"url": {"type": "string", "pattern": "^https://example\\.(org|net)/"},
                                               "id": {"type": "string", "pattern": "[0-9]{3}$"},
                                               "exact": {"type": "string", "pattern": "^ab$"}},
              "required": ["url", "id", "exact"], "additionalProperties": False}
    compiled = grammars.json_grammar(schema).grammar

    def accepts(doc: dict) -> bool:
        return _is_grammar_accept_string(compiled, json.dumps(doc, separators=(",", ":")))

    def valid(doc: dict) -> bool:
        return jsonschema.Draft202012Validator(schema).is_valid(doc)

    docs = [{"url": "https://example.org/doc/x-1", "id": "run-042", "exact": "ab"},
            {"url": "https://example.org/", "id": "042", "exact": "ab"},
            {"url": "http://example.org/doc", "id": "042", "exact": "ab"},
            {"url": "https://example.org/doc", "id": "042x", "exact": "ab"},
            {"url": "https://example.org/doc", "id": "042", "exact": "abc"}]
    assert [accepts(d) for d in docs] == [valid(d) for d in docs] == [True, True, False, False, False]
    factory = grammars.compile(ConstraintSpec("json", schema=schema))
    for seed in range(10):  # and every constrained walk still validates
        out = random_walk(factory(), tokenizer.vocab_size, seed, steps=400)
        if out[-1] == tokenizer.end_id:
            jsonschema.validate(json.loads(tokenizer.decode(out[:-1])), schema)
