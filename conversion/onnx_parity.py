"""onnxruntime vs torch on random and real inputs: max abs error of logits (and K/V, judge heads).

Real inputs are fixed sentences through the artifact's tokenizer (random ids when it has none), run as
the service runs them: one prefill, then greedy decode steps through the decode graph with the K/V
kept on the host. Random inputs exercise batches, per-row positions and a cache of random contents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from conversion.onnx_export import GRAPH_FILES
from conversion.onnx_runtime import OnnxDecoder, session, write_kv
from conversion.source import Source
from modeling.model import Transformer

REAL_TEXTS = (
    "Read the file config.yaml and report the value of max_seq_len.",
    "def add(a, b):\n    return a + b\n",
    '{"tool": "search", "arguments": {"query": "weather in Paris"}}',
)
DECODE_STEPS = 8


def _err(a: np.ndarray, b: Tensor) -> float:
    return float(np.abs(a - b.detach().float().numpy()).max())


def _torch_caches(model: Transformer) -> list[Tensor]:
    out: list[Tensor] = []
    for layer in model.model.layers:
        cache = layer.self_attn.kv_cache
        out += [cache.k_cache, cache.v_cache]
    return out


def real_prompts(source: Source, generator: torch.Generator) -> list[list[int]]:
    from modeling.tokenizer import KSTokenizer, TokenizerError

    try:
        tok = KSTokenizer.load(source.path)
    except TokenizerError:
        vocab = source.model.config.vocab_size
        return [torch.randint(3, vocab, (n,), generator=generator).tolist() for n in (12, 29, 50)]
    return [[tok.bos_id, *tok.encode(text)] for text in REAL_TEXTS]


@torch.no_grad()
def random_prefill(model: Transformer, onnx: OnnxDecoder, g: torch.Generator) -> dict[str, float]:
    cfg = model.config
    tokens = torch.randint(0, cfg.vocab_size, (2, 37), generator=g)
    logits, new = onnx.prefill(tokens.numpy())
    model.setup_caches(2, 64)
    try:
        ref = model(tokens, torch.arange(37))[:, -1]
        kv_err = max(_err(n, c[:, :, :37]) for n, c in zip(new, _torch_caches(model), strict=True))
    finally:
        model.clear_caches()
    return {"logits": _err(logits, ref), "kv": kv_err}


@torch.no_grad()
def random_decode(model: Transformer, onnx: OnnxDecoder, g: torch.Generator) -> dict[str, float]:
    cfg, slots, t = model.config, 64, 3
    tokens = torch.randint(0, cfg.vocab_size, (2, t), generator=g)
    positions = torch.tensor([[5], [40]]) + torch.arange(t)
    caches = [torch.randn(2, cfg.n_kv_heads, slots, cfg.d_head, generator=g) for _ in range(2 * cfg.n_layers)]
    logits, new = onnx.decode(tokens.numpy(), positions.numpy(), [c.numpy() for c in caches])
    model.setup_caches(2, slots)
    try:
        for dst, src in zip(_torch_caches(model), caches, strict=True):
            dst.copy_(src)
        ref = model(tokens, positions)
        rows = torch.arange(2)[:, None]
        kv_err = max(_err(n, c[rows, :, positions].transpose(1, 2))
                     for n, c in zip(new, _torch_caches(model), strict=True))
    finally:
        model.clear_caches()
    return {"logits": _err(logits, ref), "kv": kv_err}


@torch.no_grad()
def real_generation(model: Transformer, onnx: OnnxDecoder, prompt: list[int]) -> dict[str, Any]:
    """Prefill + greedy decode on both sides, each fed its own tokens; errors per step and token agreement."""
    slots = len(prompt) + DECODE_STEPS
    caches = onnx.empty_caches(1, slots)
    logits, new = onnx.prefill(np.array([prompt]))
    positions = np.arange(len(prompt))[None]
    for cache, n in zip(caches, new, strict=True):
        write_kv(cache, np.array([0]), positions, n)
    model.setup_caches(1, slots)
    try:
        ref = model(torch.tensor([prompt]), torch.arange(len(prompt)))[:, -1]
        errs, same = [_err(logits, ref)], True
        for step in range(DECODE_STEPS):
            tok, ref_tok = int(logits[0].argmax()), int(ref[0].argmax())
            same &= tok == ref_tok
            pos = np.array([[len(prompt) + step]])
            logits, new = onnx.decode(np.array([[tok]]), pos, caches)
            logits = logits[:, -1]
            for cache, n in zip(caches, new, strict=True):
                write_kv(cache, np.array([0]), pos, n)
            ref = model(torch.tensor([[ref_tok]]), torch.from_numpy(pos))[:, -1]
            errs.append(_err(logits, ref))
    finally:
        model.clear_caches()
    return {"logits": max(errs), "greedy_tokens_equal": same}


@torch.no_grad()
def judge_parity(model: Transformer, path: Path, prompts: list[list[int]], g: torch.Generator) -> dict[str, float]:
    sess = session(path)
    width = max(map(len, prompts))
    real_ids = torch.zeros(len(prompts), width, dtype=torch.long)
    real_mask = torch.zeros_like(real_ids)
    for i, p in enumerate(prompts):  # left padding
        real_ids[i, width - len(p):], real_mask[i, width - len(p):] = torch.tensor(p), 1
    rand_ids = torch.randint(0, model.config.vocab_size, (3, 41), generator=g)
    rand_mask = torch.ones_like(rand_ids)
    rand_mask[1, 30:] = 0  # right padding
    out: dict[str, float] = {}
    for name, ids, mask in (("random", rand_ids, rand_mask), ("real", real_ids, real_mask)):
        score, clause = sess.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
        ref_score, ref_clause = model.judge(ids, mask)
        out[f"judge_{name}"] = max(_err(score, ref_score), _err(clause, ref_clause))
    return out


def parity_report(source: Source, out_dir: Path, graphs: list[str]) -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    model, onnx = source.model, OnnxDecoder(out_dir)
    prompts = real_prompts(source, g)
    prefill, decode = random_prefill(model, onnx, g), random_decode(model, onnx, g)
    real = [real_generation(model, onnx, p) for p in prompts]
    report: dict[str, Any] = {
        "random_prefill_logits": prefill["logits"],
        "random_decode_logits": decode["logits"],
        "real_generation_logits": max(r["logits"] for r in real),
        "kv": max(prefill["kv"], decode["kv"]),
        "greedy_tokens_equal": all(r["greedy_tokens_equal"] for r in real),
    }
    if "judge" in graphs:
        report.update(judge_parity(model, out_dir / GRAPH_FILES["judge"], prompts, g))
    logit_keys = [k for k in report if k.endswith("_logits") or k.startswith("judge_")]
    report["max_abs_logit_error"] = max(report[k] for k in logit_keys)
    return report
