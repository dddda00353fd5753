"""Session fixtures shared across test packages: a generated contextual dataset and its tokenizer."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modeling.tokenizer import KSTokenizer, save_tokenizer, train_tokenizer
from training.data import extract, generate


@pytest.fixture(scope="session", autouse=True)
def _service_data_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Services started by tests keep their embedded SQLite store in a temp dir, never in the checkout."""
    os.environ.setdefault("KS_DATA_DIR", str(tmp_path_factory.mktemp("ks-data")))


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Small models decode fastest on one intra-op thread (and other processes share the cores); a
    module opts in with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gen (240 samples, seed 7) -> tiny tokenizer -> extract, as files in one directory."""
    d = tmp_path_factory.mktemp("contextual")
    generate.run(d / "raw.jsonl", total=240, seed=7)
    rows = [json.loads(line) for line in (d / "raw.jsonl").read_text().splitlines()[1:]]
    save_tokenizer(train_tokenizer((r["prompt_text"] + r["teacher_text"] for r in rows), 512), d / "tokenizer")
    extract.run(d / "raw.jsonl", d / "extracted.jsonl", d / "tokenizer")
    return d


@pytest.fixture(scope="session")
def tokenizer(dataset_dir: Path) -> KSTokenizer:
    return KSTokenizer.load(dataset_dir / "tokenizer")


def read_rows(path: Path) -> tuple[dict, list[dict]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


@pytest.fixture(scope="session")
def raw_rows(dataset_dir: Path) -> tuple[dict, list[dict]]:
    return read_rows(dataset_dir / "raw.jsonl")


@pytest.fixture(scope="session")
def extracted_rows(dataset_dir: Path) -> tuple[dict, list[dict]]:
    return read_rows(dataset_dir / "extracted.jsonl")
