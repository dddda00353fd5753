"""A KD mix of the session's extracted dataset, written once by a tiny random teacher."""

from pathlib import Path

import pytest

from tests.unit.training.kd_fixture import write_kd_mix


@pytest.fixture(scope="session")
def kd_mix(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_kd_mix(dataset_dir / "extracted.jsonl", dataset_dir / "tokenizer",
                        tmp_path_factory.mktemp("kd") / "kd_mix.jsonl")
