"""The shared tokenizer and chat format: in-vocabulary specials, lossless, HF-compatible template."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from modeling.chat import SPECIAL_TOKENS, ChatFormatError, parse_tool_calls, render_messages, render_sample
from modeling.tokenizer import KSTokenizer, TokenizerError, save_tokenizer, train_tokenizer

CONVERSATION = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": [{"type": "text", "text": "find "}, {"type": "text", "text": "retry docs"}]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "web.search", "arguments": '{"q":"retry"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "content": '{"ok":true}'},
    {"role": "assistant", "content": "Nothing useful."},
]


def test_special_tokens_have_fixed_in_vocabulary_ids(tokenizer):
    for i, tok in enumerate(SPECIAL_TOKENS):
        assert tokenizer.tk.token_to_id(tok) == i
        assert tokenizer.encode(tok) == [i]
    assert tokenizer.vocab_size == 512


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_encoding_is_lossless(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_training_is_deterministic_and_saves_hf_files(tmp_path, raw_rows):
    texts = [r["prompt_text"] + r["teacher_text"] for r in raw_rows[1][:60]]
    a = save_tokenizer(train_tokenizer(texts, 400), tmp_path / "a")
    b = save_tokenizer(train_tokenizer(texts, 400), tmp_path / "b")
    assert a == b == KSTokenizer.load(tmp_path / "a").sha256
    with pytest.raises(TokenizerError, match="smaller than 256"):
        train_tokenizer(texts, 100)


def test_python_render_equals_the_jinja_chat_template(dataset_dir, raw_rows):
    hf = AutoTokenizer.from_pretrained(dataset_dir / "tokenizer")
    header, rows = raw_rows
    for messages, tools in [(CONVERSATION, header["tools"]), (CONVERSATION[1:], None)] + [
            (r["messages"], header["tools"]) for r in rows[:25]]:
        for gen in (False, True):
            want = render_messages(messages, tools, add_generation_prompt=gen)
            assert hf.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=gen) == want
    assert hf.eos_token == "<|end|>" and hf.pad_token_id == 0


def test_prompt_and_teacher_text_split_at_the_first_assistant_turn():
    prompt, teacher = render_sample(CONVERSATION)
    assert prompt.endswith("<|user|>find retry docs<|end|><|assistant|>")
    assert teacher.startswith("<|tool_call|>web.search<|tool_args|>")
    content, calls = parse_tool_calls(teacher.split("<|end|>")[0])
    assert content == "" and calls == [("web.search", '{"q":"retry"}')]


def test_a_cut_off_call_is_read_as_the_service_streams_it():
    done = '<|tool_call|>a<|tool_args|>{"q":1}<|/tool_call|>'
    assert parse_tool_calls(f'hi{done}<|tool_call|>b<|tool_args|>{{"q', partial=True) == (
        "hi", [("a", '{"q":1}'), ("b", '{"q')])
    assert parse_tool_calls("hi<|tool_call|>web.se", partial=True) == ("hi", [])  # no arguments yet: no call
    assert parse_tool_calls("hi<|tool_call|>web.se") == ("hi<|tool_call|>web.se", [])  # finished text: as is


def test_bad_messages_are_rejected():
    with pytest.raises(ChatFormatError, match="unknown message role"):
        render_messages([{"role": "wizard", "content": "x"}])
    with pytest.raises(ChatFormatError, match="text content parts"):
        render_messages([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}])


def test_corrupt_or_missing_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(TokenizerError, match=r"no tokenizer\.json"):
        KSTokenizer.load(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="cannot load tokenizer"):
        KSTokenizer.load(tmp_path)
