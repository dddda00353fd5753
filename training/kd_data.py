"""Token-level distillation data from a KD mix (training/data/kd_mix.py reads and validates it).

A record is one assistant turn: its training sequence is the rendered history (ending with the
`<|assistant|>` header) followed by the turn's `teacher_text` tokens, which are the targets. In
token mode row j of `teacher_topk` is the teacher's distribution for teacher_text token j, which is
sequence token `prompt_len + j`; `collate` puts it at logits position `prompt_len + j - 1` (the
position that predicts that token), next to its target and its process weight. Rows are kept for
the target tokens only (k ids int32 + k logprobs float32 per target token).

Records of samples that are held out of the extracted dataset (`sft_data.is_heldout` on the
sample id) are dropped: the held-out evaluation decodes those conversations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modeling.tokenizer import KSTokenizer
from training.data.jsonl import DataError
from training.data.kd_mix import kd_sequence, load_kd_mix
from training.losses import process_weights
from training.sft_data import IGNORE, Example, dataset_fingerprint, is_heldout

SPAN_KINDS = ("tool_name", "json_args", "integration")


@dataclass
class KDExample(Example):
    topk_ids: torch.Tensor | None = None  # [len(ids) - prompt_len, k] int32: row j for token prompt_len + j
    topk_logprobs: torch.Tensor | None = None  # [len(ids) - prompt_len, k] float32


def to_kd_example(record: dict[str, Any], header: dict[str, Any], tok: KSTokenizer) -> KDExample:
    prompt, target = kd_sequence(record, header, tok)
    p = len(prompt)
    spans = {kind: [(p + s, p + e) for s, e in record["spans"].get(kind, ())] for kind in SPAN_KINDS}
    ex = KDExample(record["id"], prompt + target, [IGNORE] * p + target, spans, p)
    topk = record.get("teacher_topk")
    if header["mode"] == "token" and topk is not None:
        ids, lps = topk["ids"], topk["logprobs"]
        k = min(header["k"], tok.vocab_size)
        if len(ids) != len(target) or len(lps) != len(target):
            raise DataError(f"record {record['id']}: {len(ids)} top-k rows for {len(target)} teacher_text tokens "
                            "(made with another tokenizer?)")
        try:
            ex.topk_ids = torch.tensor(ids, dtype=torch.int32).view(len(target), k)
            ex.topk_logprobs = torch.tensor(lps, dtype=torch.float32).view(len(target), k)
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
        return self.header["mode"] == "token" and any(e.topk_ids is not None for e in self.train)

    @classmethod
    def load(cls, path: Path, tok: KSTokenizer, max_len: int, heldout_fraction: float = 0.1) -> KDData:
        header, records = load_kd_mix(path, tok)  # validated: tokenizer, format, one top-k row per target token
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
                    keep = max_len - ex.prompt_len
                    ex.topk_ids, ex.topk_logprobs = ex.topk_ids[:keep], ex.topk_logprobs[:keep]
            train.append(ex)
        if not train:
            raise DataError(f"{path}: no training records (all held out or too long)")
        return cls(train, header, dataset_fingerprint(path), truncated, heldout)


def combined_fingerprint(*fingerprints: str) -> str:
    """One fingerprint for a run trained on several files (resume refuses if any changed)."""
    return hashlib.sha256("\n".join(fingerprints).encode()).hexdigest()


def collate(batch: list[Example], pad_id: int, seq_len: int, weights: dict[str, float] | None = None
            ) -> tuple[torch.Tensor, ...] | tuple[torch.Tensor, torch.Tensor, torch.Tensor, None, None, None]:
    """`sft_data.collate` plus the teacher's top-k aligned to logits positions: (x, y, w, topk ids
    [B, T, k] long, topk logprobs [B, T, k], kd_mask [B, T]). kd_mask is where a target has a teacher
    row (a record without top-k, such as a sequence-level fallback, has CE only); the last three are
    None when no example of the batch has top-k (plain SFT examples included)."""
    width = min(seq_len, max(len(e.ids) for e in batch))
    x = torch.full((len(batch), width), pad_id, dtype=torch.long)
    y = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    w = torch.ones((len(batch), width))
    tops = [getattr(e, "topk_ids", None) for e in batch]
    k = next((t.shape[1] for t in tops if t is not None), 0)
    tid = torch.zeros((len(batch), width, k), dtype=torch.long)
    tlp = torch.zeros((len(batch), width, k))
    has = torch.zeros((len(batch), 1), dtype=torch.bool)
    for i, e in enumerate(batch):
        n = min(len(e.ids), width + 1)
        x[i, : n - 1] = torch.tensor(e.ids[: n - 1])
        y[i, : n - 1] = torch.tensor(e.labels[1:n])
        w[i] = process_weights(width, e.spans, weights or {})
        if tops[i] is not None:  # row j (token prompt_len + j) goes to position prompt_len + j - 1
            rows = max(0, min(len(tops[i]), n - e.prompt_len))
            tid[i, e.prompt_len - 1:e.prompt_len - 1 + rows] = tops[i][:rows]
            tlp[i, e.prompt_len - 1:e.prompt_len - 1 + rows] = e.topk_logprobs[:rows]
            has[i] = True
    if not k:
        return x, y, w * (y != IGNORE), None, None, None
    return x, y, w * (y != IGNORE), tid, tlp, (y != IGNORE) & has
