"""extract's token cache: readers that take it read exactly what they would encode, and any cache that does
not belong to the file and tokenizer at hand (stale, foreign, corrupt) is ignored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from modeling.checkpoint import sha256_file
from modeling.tokenizer import KSTokenizer
from training.data import gates, token_cache
from training.data.jsonl import DataError, read_header
from training.data.kd_mix import _pick, _select
from training.sft_data import SFTData


@pytest.fixture()
def dataset(dataset_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the session's extracted dataset and its cache (tests here damage them)."""
    shutil.copy(dataset_dir / "extracted.jsonl", tmp_path / "extracted.jsonl")
    cache = token_cache.cache_path(dataset_dir / "extracted.jsonl")
    shutil.copy(cache, token_cache.cache_path(tmp_path / "extracted.jsonl"))
    return tmp_path / "extracted.jsonl"


def test_extract_caches_the_encodings_of_both_texts_of_every_sample(dataset: Path, tokenizer: KSTokenizer):
    rows = [json.loads(line) for line in dataset.read_text().splitlines()[1:]]
    cached = token_cache.read(dataset, sha256_file(dataset), tokenizer)
    assert cached is not None and len(cached) == len(rows)
    for row, (prompt, teacher) in zip(rows, cached, strict=True):
        assert prompt == tokenizer.encode(row["prompt_text"]) and teacher == tokenizer.encode(row["teacher_text"])


def test_readers_get_the_same_data_with_and_without_the_cache(dataset: Path, tokenizer: KSTokenizer,
                                                               dataset_dir: Path, tmp_path: Path):
    with_cache = SFTData.load(dataset, tokenizer, 200, heldout_only=False)
    heldout = SFTData.load(dataset, tokenizer, 200, heldout_only=True)
    tools = read_header(dataset)["tools"]
    picked, _ = _pick(dataset, False, 0.1, 30)
    turns = list(_select(dataset, tokenizer, tools, picked))
    verified, _ = gates.run(dataset, tmp_path / "a.json", dataset_dir / "tokenizer")
    token_cache.cache_path(dataset).unlink()
    without = SFTData.load(dataset, tokenizer, 200, heldout_only=False)
    assert [(e.id, e.ids, e.labels, e.spans) for e in with_cache.train + with_cache.heldout] == \
        [(e.id, e.ids, e.labels, e.spans) for e in without.train + without.heldout]
    heldout_again = SFTData.load(dataset, tokenizer, 200, heldout_only=True)
    assert [e.ids for e in heldout.heldout] == [e.ids for e in heldout_again.heldout]
    assert [(f, [(t.id, t.ids, t.prompt_len) for t in ts]) for f, ts in turns] == \
        [(f, [(t.id, t.ids, t.prompt_len) for t in ts]) for f, ts in _select(dataset, tokenizer, tools, picked)]
    again, _ = gates.run(dataset, tmp_path / "b.json", dataset_dir / "tokenizer")
    assert verified["items"] == again["items"] and verified["summary"] == again["summary"]


def test_a_cache_of_another_file_or_tokenizer_or_a_corrupt_one_is_ignored(dataset: Path, tokenizer: KSTokenizer,
                                                                          caplog: pytest.LogCaptureFixture):
    digest = sha256_file(dataset)
    assert token_cache.read(dataset, digest, tokenizer) is not None
    assert token_cache.read(dataset, "0" * 64, tokenizer) is None  # the dataset changed since extract
    cached = token_cache.read(dataset, digest, tokenizer)
    assert cached is not None
    token_cache.write(dataset, digest, tokenizer, [(p, [*t, 1]) for p, t in cached])  # wrong ids, right hashes
    with pytest.raises(DataError, match="token spans"):  # still checked against the extracted spans
        SFTData.load(dataset, tokenizer, 200)
    path = token_cache.cache_path(dataset)
    path.write_bytes(path.read_bytes()[:100])  # a torn write
    assert token_cache.read(dataset, digest, tokenizer) is None and "unreadable token cache" in caplog.text
    reference = SFTData.load(dataset, tokenizer, 200)
    assert all(e.ids == tokenizer.encode(r["prompt_text"]) + tokenizer.encode(r["teacher_text"])
               for e, r in zip(reference.heldout, reference.rows_heldout, strict=True) if len(e.ids) < 200)
