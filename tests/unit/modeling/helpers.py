"""Small configs and models for the modeling tests (built in milliseconds on the CPU)."""

from __future__ import annotations

from typing import Any

import torch

from modeling.config import RoleConfig, parse_role_config
from modeling.model import Transformer

TRAINING = {
    "lr": 1e-3,
    "warmup_steps": 1,
    "max_steps": 10,
    "batch_size": 2,
    "seq_len": [{"until_step": 10, "seq_len": 32}],
    "eval_every": 5,
}


def model_section(**overrides: Any) -> dict[str, Any]:
    base = {
        "vocab_size": 97,
        "d_model": 32,
        "n_layers": 2,
        "n_heads": 4,
        "n_kv_heads": 2,
        "d_head": 8,
        "intermediate_size": 48,
        "max_seq_len": 64,
        "rope_theta": 500.0,  # small theta: positions within 64 still turn the slow frequencies
    }
    return {**base, **overrides}


def role_config(role: str = "worker", **model_overrides: Any) -> RoleConfig:
    if role == "judge":
        model_overrides.setdefault("judge_heads", True)
    return parse_role_config({"role": role, "model": model_section(**model_overrides), "training": TRAINING})


def tiny_model(seed: int = 0, role: str = "worker", **model_overrides: Any) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(role_config(role, **model_overrides).model).eval()


def random_ids(model: Transformer, batch: int, length: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, model.config.vocab_size, (batch, length), generator=g)
