"""The entailment triples: labels by construction, deterministic, disjoint splits, checked on read."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from arbiter.claims.text import quantities
from training.data.jsonl import DataError
from training.judge.entailment import FILES, LABELS, make_triples, read_split, write_splits


def test_triples_are_balanced_deterministic_and_seeded():
    rows = make_triples(300, seed=1)
    assert Counter(r["label"] for r in rows) == dict.fromkeys(LABELS, 100)
    assert rows == make_triples(300, seed=1) and rows != make_triples(300, seed=2)
    assert len({r["id"] for r in rows}) == 300


def test_a_supported_number_is_stated_and_a_contradicted_one_differs():
    """Numeric support restates a value the evidence gives (in some unit); a numeric contradiction
    of the same measurement gives a value the evidence does not state for it."""
    for r in make_triples(600, seed=3):
        stated = {q.value for q in quantities(r["evidence"])}
        claimed = [q.value for q in quantities(r["claim"])]
        if r["label"] == "support" and claimed and "s." not in r["claim"][-3:]:
            assert all(v in stated for v in claimed), r


def test_splits_are_disjoint_and_read_back(tmp_path: Path):
    counts = write_splits(tmp_path, 500, seed=0)
    rows = {name: read_split(tmp_path, name) for name in FILES}
    assert sum(len(v) for v in rows.values()) == 500 and len(rows["train"]) > len(rows["test"]) > 0
    assert all(counts[n] == dict(Counter(r["label"] for r in rows[n])) for n in FILES)
    ids = [set(r["id"] for r in v) for v in rows.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


def test_a_bad_row_or_an_old_file_is_refused(tmp_path: Path):
    write_splits(tmp_path, 30, seed=0)
    path = tmp_path / FILES["val"]
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], json.dumps({"id": "x", "evidence": "e", "claim": "c", "label": "maybe"})]))
    with pytest.raises(DataError, match="label"):
        read_split(tmp_path, "val")
    header = json.loads(lines[0])
    path.write_text(json.dumps({**header, "version": "judge-entailment/v0"}) + "\n")
    with pytest.raises(DataError, match="not a judge-entailment/v1 file"):
        read_split(tmp_path, "val")
