"""A tiny random teacher artifact whose greedy turns end: for the KD-mix and teacher-client tests.

Random weights never emit the end token, so the end token's LM-head row is pointed along a
direction that a share of the token embeddings also carry: after such a token the teacher ends
its turn. Peaked logits (a scaled LM head) make greedy and sampled turns short and varied.
"""

from __future__ import annotations

from pathlib import Path

import torch

from modeling.chat import END, SPECIAL_TOKENS
from modeling.checkpoint import save_artifact
from modeling.config import parse_role_config
from modeling.model import Transformer
from modeling.tokenizer import KSTokenizer

TRAINING = {"lr": 1e-3, "warmup_steps": 1, "max_steps": 10, "batch_size": 2,
            "seq_len": [{"until_step": 10, "seq_len": 64}], "eval_every": 5}


def _utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def make_teacher(out: Path, tokenizer_dir: Path, *, vocab_size: int = 512, seed: int = 0, end_bias: float = 6.0,
                 enders_fraction: float = 0.7, max_seq_len: int = 2048) -> Path:
    cfg = parse_role_config({"role": "teacher", "model": {
        "vocab_size": vocab_size, "d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "d_head": 16,
        "intermediate_size": 192, "max_seq_len": max_seq_len}, "training": TRAINING})
    g = torch.Generator().manual_seed(seed)
    model = Transformer(cfg.model).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.02 if p.dim() > 1 else 0.0) + (p.dim() == 1))
        model.lm_head.weight.mul_(40.0)
        u = torch.randn(cfg.model.d_model, generator=g)
        u /= u.norm()
        enders = torch.arange(len(SPECIAL_TOKENS), vocab_size)
        enders = enders[torch.randperm(len(enders), generator=g)[: int(len(enders) * enders_fraction)]]
        model.model.embed_tokens.weight[enders] += 0.2 * u
        # chat-format tokens and tokens that are not whole UTF-8 characters: (almost) never generated
        model.lm_head.weight[: len(SPECIAL_TOKENS)] = 0.0
        partial = [i for i, b in enumerate(KSTokenizer.load(tokenizer_dir).token_bytes) if not _utf8(b)]
        model.lm_head.weight[partial] = 0.0
        model.lm_head.weight[SPECIAL_TOKENS.index(END)] = end_bias * u
    return save_artifact(out, model, cfg, tokenizer_dir=tokenizer_dir)
