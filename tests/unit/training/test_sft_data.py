"""Training examples: what is a target, how batches are drawn, how the curriculum buckets."""

import pytest

from modeling.chat import END, TOOL
from modeling.model import WIDTH_BUCKET
from training.data.jsonl import DataError
from training.sft_data import IGNORE, Example, SFTData, collate, fitting, pick_batch, to_example


def test_only_the_assistants_own_tokens_are_targets(extracted_rows, tokenizer):
    row = next(r for r in extracted_rows[1] if r["metadata"]["call_sequence"])
    ex = to_example(row, tokenizer)
    assert ex.ids == tokenizer.encode(row["prompt_text"] + row["teacher_text"])
    assert all(label == IGNORE for label in ex.labels[: ex.prompt_len])
    targets = tokenizer.decode([t for t, label in zip(ex.ids, ex.labels, strict=True) if label != IGNORE])
    assert TOOL not in targets and '"ok":' not in targets  # tool results are environment text
    assert row["metadata"]["call_sequence"][0]["name"] in targets and targets.endswith(END)
    for s, e in ex.spans["tool_name"]:
        assert all(label != IGNORE for label in ex.labels[s:e])


def test_batches_are_a_pure_function_of_seed_and_draw(extracted_rows, tokenizer):
    examples = [to_example(r, tokenizer) for r in extracted_rows[1]]
    a = [e.id for e in pick_batch(examples, 1024, 8, seed=1, draw=5)]
    assert a == [e.id for e in pick_batch(examples, 1024, 8, seed=1, draw=5)]
    assert a != [e.id for e in pick_batch(examples, 1024, 8, seed=1, draw=6)]
    halves = pick_batch(examples, 1024, 8, 1, 5, rank=0, world=2) + pick_batch(examples, 1024, 8, 1, 5, rank=1, world=2)
    assert [e.id for e in halves] == a
    with pytest.raises(ValueError, match="not divisible"):
        pick_batch(examples, 1024, 7, 1, 5, rank=0, world=2)


def test_the_curriculum_buckets_by_length(extracted_rows, tokenizer):
    examples = [to_example(r, tokenizer) for r in extracted_rows[1]]
    short = sorted(len(e.ids) for e in examples)[len(examples) // 4]
    assert all(len(e.ids) <= short for d in range(5) for e in pick_batch(examples, short, 8, 0, d))
    with pytest.raises(DataError, match="no sample fits"):
        pick_batch(examples, 10, 8, 0, 0)
    pool = fitting(examples, short)  # kept by the training loop: the same draws
    assert [e.id for d in range(5) for e in pick_batch(examples, short, 8, 0, d, pool=pool)] == \
        [e.id for d in range(5) for e in pick_batch(examples, short, 8, 0, d)]
    assert pool == fitting(examples, short)  # drawing never reorders it


def test_collate_shifts_targets_and_pads(extracted_rows, tokenizer):
    batch = [to_example(r, tokenizer) for r in extracted_rows[1] if not r["metadata"]["long_context"]][:3]
    x, y, w = collate(batch, tokenizer.pad_id, 4096, {"json_args": 3.0})
    for i, e in enumerate(batch):
        n = len(e.ids) - 1
        assert x[i, :n].tolist() == e.ids[:-1] and y[i, :n].tolist() == e.labels[1:]
        assert (y[i, n:] == IGNORE).all() and (x[i, n:] == tokenizer.pad_id).all()
        assert ((w[i] > 0) == (y[i] != IGNORE)).all()  # weights only on targets
        for s, t in e.spans["json_args"]:  # the argument tokens are targets of positions s-1 .. t-2
            assert (w[i, s - 1:t - 1] == 3.0).all() and y[i, s - 1:t - 1].tolist() == e.ids[s:t]


def test_collate_pads_to_a_multiple_of_the_width_bucket_within_seq_len():
    """A few batch shapes instead of one per step (CPU bf16 matmuls compile a kernel per shape)."""
    def batch(*lengths: int) -> list[Example]:
        return [Example(str(n), list(range(n)), list(range(n))) for n in lengths]

    for lengths, seq_len, width in [((5, 40), 4096, 2 * WIDTH_BUCKET), ((WIDTH_BUCKET,), 4096, WIDTH_BUCKET),
                                    ((90,), 70, 70)]:
        x, y, w = collate(batch(*lengths), 0, seq_len)
        assert x.shape == y.shape == w.shape == (len(lengths), width)
        assert (y[0, lengths[0] - 1:] == IGNORE).all() and (w[0, lengths[0] - 1:] == 0).all()


def test_heldout_split_is_stable_and_disjoint(dataset_dir, tokenizer):
    a = SFTData.load(dataset_dir / "extracted.jsonl", tokenizer, 10**6)
    b = SFTData.load(dataset_dir / "extracted.jsonl", tokenizer, 10**6)
    assert [e.id for e in a.heldout] == [e.id for e in b.heldout] and a.heldout
    assert not {e.id for e in a.heldout} & {e.id for e in a.train}
    assert a.truncated == 0 and SFTData.load(dataset_dir / "extracted.jsonl", tokenizer, 600).truncated > 0
