"""The local checkpoint teacher and the per-turn split that the KD records rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modeling import precision
from modeling.chat import render_messages, render_sample
from modeling.generate import greedy
from modeling.tokenizer import KSTokenizer
from tests.kd_teacher import make_teacher
from training.data.extract import extract_sample
from training.data.kd_mix import render_turn, split_turns, text_spans
from training.teachers import LocalTeacher, open_teacher


@pytest.fixture(scope="module")
def teacher(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> LocalTeacher:
    out = make_teacher(tmp_path_factory.mktemp("teacher") / "teacher", dataset_dir / "tokenizer")
    t = open_teacher(f"local:{out}")
    assert isinstance(t, LocalTeacher)
    return t


def test_turns_concatenate_to_the_conversation_tokens(extracted_rows, tokenizer: KSTokenizer) -> None:
    header, rows = extracted_rows
    multi = 0
    for row in rows:
        full, turns = split_turns(row, header["tools"], tokenizer)
        assert full == tokenizer.encode(row["prompt_text"] + row["teacher_text"])
        multi += len(turns) > 1
        for turn in turns:
            prompt = tokenizer.encode(render_messages(turn.history, header["tools"], add_generation_prompt=True))
            assert prompt == full[:turn.prompt_len]
            assert prompt + tokenizer.encode(turn.text) == full[:turn.prompt_len + len(turn.ids)]
            assert turn.text == render_turn(row["messages"][turn.index]) and turn.text.endswith("<|end|>")
            # the gold spans carried over from the extract step equal the spans computed from the text
            assert turn.spans == text_spans(turn.text, turn.claims, tokenizer)
        # every gold tool-name and argument span lands in exactly one turn
        for kind in ("tool_name", "json_args"):
            assert sum(len(t.spans[kind]) for t in turns) == len(row["metadata"]["spans"][kind]["tokens"])
    assert multi > 20


@pytest.mark.parametrize("content", [" leading space", "x", "é and 123", "\n\nnewlines\n"])
def test_split_at_awkward_boundaries(content: str, tokenizer: KSTokenizer) -> None:
    """Text that byte-level BPE would like to merge with its neighbours still splits cleanly."""
    tools = [{"type": "function", "function": {"name": "web.search", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}]
    messages = [
        {"role": "user", "content": "look it up "},
        {"role": "assistant", "content": content, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "web.search", "arguments": '{"q":" a"}'}}]},
        {"role": "tool", "tool_call_id": "c", "content": "result text "},
        {"role": "assistant", "content": content + " done"},
    ]
    prompt, teacher_text = render_sample(messages, tools)
    row = extract_sample({"id": "s", "messages": messages, "prompt_text": prompt, "teacher_text": teacher_text,
                          "metadata": {"integration_claims": []}}, tokenizer)
    full, turns = split_turns(row, tools, tokenizer)
    assert [t.index for t in turns] == [1, 3]
    for t in turns:
        assert tokenizer.encode(render_messages(messages[:t.index], tools, True)) + t.ids == \
            full[:t.prompt_len + len(t.ids)]
    assert turns[0].spans["tool_name"] and turns[0].finish == "tool_calls" and turns[1].finish == "stop"


def test_forced_topk_equals_per_turn_forwards(teacher: LocalTeacher, extracted_rows, tokenizer) -> None:
    header, rows = extracted_rows
    samples = [split_turns(r, header["tools"], tokenizer) for r in rows[:40]]
    samples = [(full, turns) for full, turns in samples if len(turns) > 1 and len(full) < 900][:2]
    assert len(samples) == 2
    seqs = [full[:max(t.prompt_len + len(t.ids) for t in turns)] for full, turns in samples]
    targets = [[(t.prompt_len, t.prompt_len + len(t.ids)) for t in turns] for _, turns in samples]
    batched = teacher.topk(seqs, targets, k=5, temperature=2.0)  # both conversations in one padded batch
    with torch.inference_mode():
        for (full, turns), per_turn in zip(samples, batched, strict=True):
            for t, (ids, lps) in zip(turns, per_turn, strict=True):
                prefix = full[:t.prompt_len + len(t.ids)]  # this turn alone, nothing after it
                logits = teacher.model(torch.tensor([prefix]))[0, t.prompt_len - 1:-1]
                ref_lp, ref_ids = torch.topk(torch.log_softmax(logits / 2.0, -1), 5)
                assert ids.shape == (len(t.ids), 5)
                assert torch.equal(ids, ref_ids)
                torch.testing.assert_close(lps, ref_lp, atol=1e-4, rtol=0)


def test_generate_matches_the_reference_greedy_loop(teacher: LocalTeacher, extracted_rows, tokenizer) -> None:
    header, rows = extracted_rows
    full, turns = split_turns(rows[0], header["tools"], tokenizer)
    prompt = full[:turns[0].prompt_len]
    (ids, ended), = teacher.generate_batch([prompt], 24, temperature=0.0)
    ref = greedy(teacher.model, prompt, 24, {tokenizer.end_id})
    assert ids + [tokenizer.end_id] * ended == ref
    a = teacher.generate_batch([prompt, prompt[:-3]], 24, temperature=1.0, seeds=[5, 6])
    assert a[0] == teacher.generate_batch([prompt], 24, temperature=1.0, seeds=[5])[0]
    assert teacher.tokenizer_sha256 == tokenizer.sha256 and teacher.spec.startswith("local:")


def test_bfloat16_teacher_is_close_to_float32(teacher: LocalTeacher, extracted_rows, tokenizer, monkeypatch) -> None:
    monkeypatch.setenv("KS_FORCE_BF16", "1")  # bf16 even on a CPU without it (slow there, same numbers)
    header, rows = extracted_rows
    full, turns = split_turns(rows[1], header["tools"], tokenizer)
    seq, targets = full[:turns[-1].prompt_len + len(turns[-1].ids)], [(t.prompt_len, t.prompt_len + len(t.ids))
                                                                      for t in turns]
    half = LocalTeacher(teacher.dir, dtype="bfloat16")
    assert half.model.lm_head.weight.dtype == torch.bfloat16
    for (ids, lps), (h_ids, h_lps) in zip(teacher.topk([seq], [targets], 5)[0], half.topk([seq], [targets], 5)[0],
                                          strict=True):
        assert h_lps.dtype == torch.float32 and h_ids.shape == ids.shape
        torch.testing.assert_close(h_lps[:, 0], lps[:, 0], atol=0.1, rtol=0)
    with pytest.raises(ValueError, match="dtype"):
        LocalTeacher(teacher.dir, dtype="float16")


def test_a_bfloat16_teacher_runs_in_float32_on_a_cpu_without_bf16(teacher: LocalTeacher, monkeypatch) -> None:
    monkeypatch.delenv("KS_FORCE_BF16", raising=False)
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    half = LocalTeacher(teacher.dir, dtype="bfloat16")
    assert half.dtype == "float32" and half.model.lm_head.weight.dtype == torch.float32
