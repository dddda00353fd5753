"""KD records -> training tensors: the teacher's rows, targets and process weights at the right positions."""

import json

import pytest
import torch

from modeling.config import load_role_config
from modeling.model import Transformer
from modeling.tokenizer import KSTokenizer
from tests.unit.training.kd_fixture import write_kd_mix
from training.data.jsonl import DataError
from training.kd_data import KDData, KDExample, collate, merge_turns, to_kd_example
from training.losses import IGNORE, topk_kl
from training.sft_data import is_heldout


def test_teacher_rows_sit_at_the_position_that_predicts_their_token(dataset_dir, tmp_path):
    mix = write_kd_mix(dataset_dir / "extracted.jsonl", dataset_dir / "tokenizer", tmp_path / "kd.jsonl", k=512,
                       limit=6, seed=3)  # k = V: the whole teacher distribution
    tok = KSTokenizer.load(dataset_dir / "tokenizer")
    kd = KDData.load(mix, tok, 1024, heldout_fraction=0.0)
    x, y, _, ids, lps, kd_mask = collate(kd.train[:4], tok.pad_id, 1024)
    assert torch.equal(kd_mask, y != IGNORE)
    torch.manual_seed(3)
    teacher = Transformer(load_role_config("teacher_tiny").model).eval()
    with torch.no_grad():
        logits = teacher(x)
    kl = topk_kl(logits, ids, lps, y != IGNORE)
    assert kl.max() < 1e-4  # the student that is the teacher, read at the aligned positions
    shifted = topk_kl(logits[:, 1:], ids[:, :-1], lps[:, :-1], (y != IGNORE)[:, :-1])
    assert shifted.max() > 1e-2  # one position off is not (a random teacher is nearly uniform, hence small)


def test_targets_and_process_weights_of_a_conversation(kd_mix, dataset_dir):
    tok = KSTokenizer.load(dataset_dir / "tokenizer")
    kd = KDData.load(kd_mix, tok, 2048, heldout_fraction=0.0)
    ex = next(e for e in kd.train if e.spans["tool_name"])
    records = [json.loads(line) for line in kd_mix.read_text().splitlines()[1:]]
    mine = sorted((r for r in records if r["sample_id"] == ex.id.split("#")[0]), key=lambda r: r["turn"])
    _, y, w, ids, _, kd_mask = collate([ex], tok.pad_id, 2048, {"tool_name": 3.0, "json_args": 2.0})
    p = ex.prompt_len
    # every assistant turn of the conversation is a target, the history and tool results are not
    assert tok.decode(y[0][y[0] != IGNORE].tolist()) == "".join(r["teacher_text"] for r in mine)
    assert (y[0, : p - 1] == IGNORE).all() and (w[0, : p - 1] == 0).all()
    assert torch.equal(kd_mask[0], y[0] != IGNORE)
    s, e = mine[0]["spans"]["tool_name"][0]
    assert (w[0, p + s - 1:p + e - 1] == 3.0).all()
    name = mine[0]["teacher_text"].split("<|tool_call|>")[1].split("<|tool_args|>")[0]
    assert tok.decode(y[0, p + s - 1:p + e - 1].tolist()) == name
    for start, top, _ in ex.topk:  # each turn's first teacher row predicts that turn's first token
        assert torch.equal(ids[0, start - 1], top[0].long()) and y[0, start - 1] == ex.ids[start]


def test_turns_merge_into_their_conversation_only_when_each_continues_the_last(kd_mix, dataset_dir):
    tok = KSTokenizer.load(dataset_dir / "tokenizer")
    kd = KDData.load(kd_mix, tok, 2048, heldout_fraction=0.0)
    records = [json.loads(line) for line in kd_mix.read_text().splitlines()[1:]]
    assert kd.records == len(records) and len(kd.train) == len({r["sample_id"] for r in records}) < len(records)
    header = json.loads(kd_mix.read_text().splitlines()[0])
    by_sample: dict[str, list[dict]] = {}
    for r in records:
        by_sample.setdefault(r["sample_id"], []).append(r)
    pair = next(sorted(rs, key=lambda r: r["turn"])[:2] for rs in by_sample.values() if len(rs) > 1)
    first, second = (to_kd_example(r, header, tok) for r in pair)
    other = first.ids[:]
    other[-2] = (other[-2] + 1) % tok.vocab_size  # a turn that another history precedes (a generated turn)
    changed = KDExample(first.id, other, first.labels, first.spans, first.prompt_len, first.topk)
    assert len(merge_turns([changed, second])) == 2 and len(merge_turns([first, second])) == 1


def test_heldout_samples_are_dropped_and_a_foreign_tokenizer_or_sequence_mode_is_handled(kd_mix, dataset_dir,
                                                                                         tmp_path):
    tok = KSTokenizer.load(dataset_dir / "tokenizer")
    kd = KDData.load(kd_mix, tok, 2048)
    assert kd.heldout_dropped > 0 and not any(is_heldout(e.id.split("#")[0], 0.1) for e in kd.train)
    lines = kd_mix.read_text().splitlines()
    header = json.loads(lines[0])
    other = tmp_path / "other.jsonl"
    other.write_text("\n".join([json.dumps({**header, "student_tokenizer_sha256": "0" * 64}), *lines[1:]]) + "\n")
    with pytest.raises(DataError, match="student tokenizer"):
        KDData.load(other, tok, 2048)
    seq = tmp_path / "seq.jsonl"
    rows = [{**json.loads(line), "teacher_topk": None} for line in lines[1:]]
    seq.write_text("\n".join(json.dumps(r) for r in [{**header, "mode": "sequence"}, *rows]) + "\n")
    kd = KDData.load(seq, tok, 2048)
    assert not kd.token_level and collate(kd.train[:2], tok.pad_id, 2048)[3] is None
    mixed = KDData.load(kd_mix, tok, 2048).train[:1] + kd.train[:1]  # a fallback record inside a token-level mix
    _, y, _, _, _, kd_mask = collate(mixed, tok.pad_id, 2048)
    assert torch.equal(kd_mask[0], y[0] != IGNORE) and not kd_mask[1].any()
