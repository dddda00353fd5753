"""Tiny artifacts to export: the service tests' worker + drafter pair (peaked LM head) and a random judge."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modeling.checkpoint import save_artifact
from modeling.config import load_role_config
from modeling.model import Transformer
from tests.service.conftest import tiny_pair


@pytest.fixture(scope="session")
def artifacts(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """artifacts/{worker,drafter,judge,teacher}/ on the tiny tokenizer (vocabulary 512)."""
    root = tmp_path_factory.mktemp("export-artifacts")
    tokenizer = dataset_dir / "tokenizer"
    (worker, wcfg), (drafter, dcfg) = tiny_pair()
    save_artifact(root / "worker", worker, wcfg, tokenizer_dir=tokenizer)
    save_artifact(root / "drafter", drafter, dcfg, tokenizer_dir=tokenizer)
    torch.manual_seed(1)
    for role in ("judge", "teacher"):
        cfg = load_role_config(f"{role}_tiny")
        model = Transformer(cfg.model)
        with torch.no_grad():
            model.lm_head.weight.mul_(12.0)
        save_artifact(root / role, model, cfg, tokenizer_dir=tokenizer)
    return root
