"""Token-level distillation data from a KD mix (docs/distillation.md, "KD mix format").

A record is one assistant turn: its training sequence is the rendered history (ending with the
`<|assistant|>` header) followed by the turn's `teacher_text` tokens, which are the targets. In
token mode row j of `teacher_topk` is the teacher's distribution for teacher_text token j, so it is
stored at sequence position `prompt_len + j` here and lands at logits position `prompt_len + j - 1`
in `collate` (the position that predicts that token), next to its target and its process weight.

Records of samples that are held out of the extracted dataset (`sft_data.is_heldout` on the
sample id) are dropped: the held-out evaluation decodes those conversations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modeling.chat import render_messages
from modeling.tokenizer import KSTokenizer
from training.data.jsonl import DataError, iter_rows, read_header
from training.losses import process_weights
from training.sft_data import IGNORE, Example, dataset_fingerprint, is_heldout

SPAN_KINDS = ("tool_name", "json_args", "integration")
HEADER_KEYS = ("kind", "version", "student_tokenizer_sha256", "mode", "capture", "k", "temperature", "source",
               "tools")


@dataclass
class KDExample(Example):
    topk_ids: torch.Tensor | None = None  # [len(ids), k] int32, rows for target tokens only (0 elsewhere)
    topk_logprobs: torch.Tensor | None = None  # [len(ids), k] float32


def read_kd_mix(path: Path, tok: KSTokenizer) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, records) of a KD mix made for this student tokenizer; DataError otherwise."""
    header = read_header(path, required=HEADER_KEYS)
    if header["kind"] != "kd_mix" or header["version"] != 1:
        raise DataError(f"{path}:1: not a kd_mix v1 file (kind {header['kind']!r}, version {header['version']!r})")
    if header["student_tokenizer_sha256"] != tok.sha256:
        raise DataError(f"{path}:1: KD mix made for student tokenizer {str(header['student_tokenizer_sha256'])[:12]}…"
                        f", but {tok.path}/tokenizer.json is {str(tok.sha256)[:12]}…; rebuild the mix")
    if header["mode"] not in ("token", "sequence"):
        raise DataError(f"{path}:1: mode must be 'token' or 'sequence', got {header['mode']!r}")
    return header, [row for _, row in iter_rows(path)]


def to_kd_example(record: dict[str, Any], header: dict[str, Any], tok: KSTokenizer) -> KDExample:
    prompt = tok.encode(render_messages(record["messages"], header["tools"] or None, add_generation_prompt=True))
    target = tok.encode(record["teacher_text"])
    p = len(prompt)
    spans = {kind: [(p + s, p + e) for s, e in record["spans"].get(kind, ())] for kind in SPAN_KINDS}
    ex = KDExample(record["id"], prompt + target, [IGNORE] * p + target, spans, p)
    topk = record.get("teacher_topk")
    if header["mode"] == "token" and topk is not None:
        ids, lps = topk["ids"], topk["logprobs"]
        k = header["k"]
        if len(ids) != len(target) or len(lps) != len(target):
            raise DataError(f"record {record['id']}: {len(ids)} top-k rows for {len(target)} teacher_text tokens "
                            "(made with another tokenizer?)")
        ex.topk_ids = torch.zeros(len(ex.ids), k, dtype=torch.int32)
        ex.topk_logprobs = torch.zeros(len(ex.ids), k)
        try:
            ex.topk_ids[p:] = torch.tensor(ids, dtype=torch.int32)
            ex.topk_logprobs[p:] = torch.tensor(lps, dtype=torch.float32)
        except (RuntimeError, ValueError) as exc:
            raise DataError(f"record {record['id']}: teacher_topk rows are not {k} wide ({exc})") from None
        if int(ex.topk_ids.max()) >= tok.vocab_size or int(ex.topk_ids.min()) < 0:
            raise DataError(f"record {record['id']}: teacher_topk ids outside the student vocabulary")
    return ex


@dataclass
class KDData:
    train: list[KDExample]
    header: dict[str, Any]
    fingerprint: str  # of the KD mix file
    truncated: int  # cut to max_len (a record whose prompt alone is too long is dropped and counted)
    heldout_dropped: int

    @property
    def token_level(self) -> bool:
        return self.header["mode"] == "token" and all(e.topk_ids is not None for e in self.train)

    @classmethod
    def load(cls, path: Path, tok: KSTokenizer, max_len: int, heldout_fraction: float = 0.1) -> KDData:
        header, records = read_kd_mix(path, tok)
        train, truncated, heldout = [], 0, 0
        for record in records:
            if is_heldout(str(record.get("sample_id", "")), heldout_fraction):
                heldout += 1
                continue
            try:
                ex = to_kd_example(record, header, tok)
            except (KeyError, TypeError) as exc:
                raise DataError(f"{path}: record {record.get('id')!r} is not a KD record ({exc})") from None
            if len(ex.ids) > max_len:
                truncated += 1
                if ex.prompt_len + 1 >= max_len:
                    continue
                ex.ids, ex.labels = ex.ids[:max_len], ex.labels[:max_len]
                if ex.topk_ids is not None:
                    ex.topk_ids, ex.topk_logprobs = ex.topk_ids[:max_len], ex.topk_logprobs[:max_len]
            train.append(ex)
        if not train:
            raise DataError(f"{path}: no training records (all held out or too long)")
        return cls(train, header, dataset_fingerprint(path), truncated, heldout)


def combined_fingerprint(*fingerprints: str) -> str:
    """One fingerprint for a run trained on several files (resume refuses if any changed)."""
    return hashlib.sha256("\n".join(fingerprints).encode()).hexdigest()


def collate(batch: list[KDExample], pad_id: int, seq_len: int, weights: dict[str, float] | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """`sft_data.collate` plus the teacher's top-k aligned to logits positions: (x, y, w, topk ids
    [B, T, k] long, topk logprobs [B, T, k]); the top-k pair is None when a batch lacks it."""
    width = min(seq_len, max(len(e.ids) for e in batch))
    x = torch.full((len(batch), width), pad_id, dtype=torch.long)
    y = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    w = torch.ones((len(batch), width))
    sparse = all(e.topk_ids is not None for e in batch)
    k = batch[0].topk_ids.shape[1] if sparse else 0
    tid = torch.zeros((len(batch), width, k), dtype=torch.long)
    tlp = torch.zeros((len(batch), width, k))
    for i, e in enumerate(batch):
        n = min(len(e.ids), width + 1)
        x[i, : n - 1] = torch.tensor(e.ids[: n - 1])
        y[i, : n - 1] = torch.tensor(e.labels[1:n])
        w[i] = process_weights(width, e.spans, weights or {})
        if sparse:
            tid[i, : n - 1] = e.topk_ids[1:n]  # row of token p+1 goes to position p
            tlp[i, : n - 1] = e.topk_logprobs[1:n]
    return x, y, w * (y != IGNORE), (tid if sparse else None), (tlp if sparse else None)
