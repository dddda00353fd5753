"""Spans for any Unicode text: byte offsets slice exactly; token spans cover exactly and minimally."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modeling.chat import ASSISTANT, END, TOOL_ARGS, TOOL_CALL, TOOL_CALL_END
from training.data.extract import byte_spans

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Any Unicode except surrogates (not encodable) and text that would itself spell a special token.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(lambda s: "<|" not in s)


@SETTINGS
@given(prefix=TEXT, claim=TEXT, suffix=TEXT, name=TEXT, arg=TEXT)
def test_byte_spans_slice_exactly_the_intended_text(prefix, claim, suffix, name, arg):
    args = json.dumps({"q": arg}, ensure_ascii=False)
    teacher = f"{TOOL_CALL}{name}{TOOL_ARGS}{args}{TOOL_CALL_END}{END}{ASSISTANT}{prefix}{claim}{suffix}{END}"
    spans = byte_spans(teacher, [claim])
    data = teacher.encode("utf-8")
    cut = lambda kind: [data[s:e].decode("utf-8") for s, e in spans[kind]]  # noqa: E731
    assert cut("tool_name") == [name]
    assert cut("json_args") == [args]
    (s, e), = spans["integration"]
    assert data[s:e].decode("utf-8") == claim and s >= len(teacher[: teacher.rindex(ASSISTANT)].encode()) + 1


@SETTINGS
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80), data=st.data())
def test_token_spans_cover_any_byte_span_minimally(tokenizer, text, data):
    raw = text.encode("utf-8")
    ids = tokenizer.encode(text)
    offsets = tokenizer.byte_offsets(ids)
    assert offsets[-1] == len(raw) and b"".join(tokenizer.token_bytes[i] for i in ids) == raw
    start = data.draw(st.integers(0, len(raw) - 1))
    end = data.draw(st.integers(start + 1, len(raw)))
    span = tokenizer.token_span(offsets, start, end)
    assert offsets[span.start] <= start < offsets[span.start + 1]
    assert offsets[span.end - 1] < end <= offsets[span.end]


@SETTINGS
@given(value=TEXT)
def test_token_spans_between_special_tokens_decode_to_the_same_text(tokenizer, value):
    text = f"{TOOL_CALL}web.search{TOOL_ARGS}{value}{TOOL_CALL_END}"
    raw = text.encode("utf-8")
    start = raw.index(TOOL_ARGS.encode()) + len(TOOL_ARGS.encode())
    end = raw.index(TOOL_CALL_END.encode())
    ids = tokenizer.encode(text)
    span = tokenizer.token_span(tokenizer.byte_offsets(ids), start, end)
    assert tokenizer.decode(ids[span.start:span.end]) == value
