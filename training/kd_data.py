"""Token-level distillation data from a KD mix (training/data/kd_mix.py reads and validates it).

A record is one assistant turn: its training sequence is the rendered history (ending with the
`<|assistant|>` header) followed by the turn's `teacher_text` tokens, which are the targets. In
token mode row j of `teacher_topk` is the teacher's distribution for teacher_text token j, which is
sequence token `prompt_len + j`; `collate` puts it at logits position `prompt_len + j - 1` (the
position that predicts that token), next to its target and its process weight. Rows are kept for
the target tokens only (k ids int32 + k logprobs float32 per target token). The turns of one
conversation merge into one example when each continues the previous one (`merge_turns`), as the
SFT stream has one example per conversation.

Records of samples that are held out of the extracted dataset (`sft_data.is_heldout` on the
sample id) are dropped: the held-out evaluation decodes those conversations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from modeling.model import WIDTH_BUCKET, bucket
from modeling.tokenizer import KSTokenizer
from training.data.jsonl import DataError
from training.data.kd_mix import kd_prompt, kd_sequence, read_kd_mix
from training.losses import process_weights
from training.sft_data import IGNORE, Example, dataset_fingerprint, is_heldout

SPAN_KINDS = ("tool_name", "json_args", "integration")


@dataclass
class KDExample(Example):
    # The teacher's rows as segments (s, ids [n, k] int32, logprobs [n, k] float32): row j of a segment
    # is the distribution over sequence token s + j. One segment per assistant turn.
    topk: list[tuple[int, torch.Tensor, torch.Tensor]] = field(default_factory=list)


def to_kd_example(record: dict[str, Any], header: dict[str, Any], tok: KSTokenizer,
                  encoded: tuple[list[int], list[int]] | None = None) -> KDExample:
    """The training example of a record that kd_mix validated; `encoded` is its (prompt ids, target ids)
    when already made."""
    prompt, target = encoded or kd_sequence(record, header, tok)
    p = len(prompt)
    spans = {kind: [(p + s, p + e) for s, e in record["spans"].get(kind, ())] for kind in SPAN_KINDS}
    ex = KDExample(record["id"], prompt + target, [IGNORE] * p + target, spans, p)
    topk = record.get("teacher_topk")
    if header["mode"] == "token" and topk is not None:  # validated by kd_mix (rows, width, vocabulary)
        k = min(header["k"], tok.vocab_size)
        top_ids = torch.as_tensor(topk["ids"], dtype=torch.int32).view(-1, k)
        top_lps = torch.as_tensor(topk["logprobs"], dtype=torch.float32).view(-1, k)
        ex.topk = [(p, top_ids, top_lps)]
    return ex


def merge_turns(examples: list[KDExample]) -> list[KDExample]:
    """One example per conversation where the records allow it: a turn whose history is the previous
    record's whole sequence (forced capture: the teacher scored the dataset's own turns) continues that
    example, so the history is not trained on again per turn and a step sees as many targets as an SFT
    step. A turn that does not continue it (a generated turn, a gap) starts a new example."""
    out: list[KDExample] = []
    for ex in examples:
        last = out[-1] if out else None
        if last is None or len(ex.ids) <= len(last.ids) or ex.ids[:len(last.ids)] != last.ids:
            out.append(ex)
            continue
        spans = {kind: last.spans.get(kind, []) + ex.spans.get(kind, []) for kind in SPAN_KINDS}
        out[-1] = KDExample(last.id, ex.ids, last.labels + ex.labels[len(last.ids):], spans, last.prompt_len,
                            last.topk + ex.topk)
    return out


def truncate(ex: KDExample, max_len: int) -> KDExample:
    ex.ids, ex.labels = ex.ids[:max_len], ex.labels[:max_len]
    ex.topk = [(s, i[:max_len - s], lp[:max_len - s]) for s, i, lp in ex.topk if s < max_len]
    return ex


@dataclass
class KDData:
    train: list[KDExample]
    header: dict[str, Any]
    fingerprint: str  # of the KD mix file
    truncated: int  # cut to max_len (an example whose prompt alone is too long is dropped and counted)
    heldout_dropped: int
    records: int = 0  # KD records used (the examples merge the turns of a conversation)

    @property
    def token_level(self) -> bool:
        return self.header["mode"] == "token" and any(e.topk for e in self.train)

    @classmethod
    def load(cls, path: Path, tok: KSTokenizer, max_len: int, heldout_fraction: float = 0.1) -> KDData:
        # validated (tokenizer, format, one top-k row per target token), top-k as tensors, text encoded
        header, records, text_ids = read_kd_mix(path, tok)
        kept = [(r, ids) for r, ids in zip(records, text_ids, strict=True)
                if not is_heldout(str(r.get("sample_id", "")), heldout_fraction)]
        prompts = tok.encode_batch([kd_prompt(r, header) for r, _ in kept])
        by_sample: dict[str, list[tuple[int, KDExample]]] = {}
        for (record, target), prompt in zip(kept, prompts, strict=True):
            try:
                ex = to_kd_example(record, header, tok, (prompt, target))
                turn = int(record["turn"])
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{path}: record {record.get('id')!r} is not a KD record ({exc})") from None
            by_sample.setdefault(str(record["sample_id"]), []).append((turn, ex))
        heldout, used = len(records) - len(kept), len(kept)
        train, truncated = [], 0
        for turns in by_sample.values():
            for ex in merge_turns([ex for _, ex in sorted(turns, key=lambda t: t[0])]):
                if len(ex.ids) > max_len:
                    truncated += 1
                    if ex.prompt_len + 1 >= max_len:
                        continue
                    ex = truncate(ex, max_len)
                train.append(ex)
        if not train:
            raise DataError(f"{path}: no training records (all held out or too long)")
        return cls(train, header, dataset_fingerprint(path), truncated, heldout, used)


def combined_fingerprint(*fingerprints: str) -> str:
    """One fingerprint for a run trained on several files (resume refuses if any changed)."""
    return hashlib.sha256("\n".join(fingerprints).encode()).hexdigest()


def collate(batch: list[Example], pad_id: int, seq_len: int, weights: dict[str, float] | None = None
            ) -> tuple[torch.Tensor, ...] | tuple[torch.Tensor, torch.Tensor, torch.Tensor, None, None, None]:
    """`sft_data.collate` plus the teacher's top-k aligned to logits positions: (x, y, w, topk ids
    [B, T, k] long, topk logprobs [B, T, k], kd_mask [B, T]). kd_mask is where a target has a teacher
    row (a record without top-k, such as a sequence-level fallback, has CE only); the last three are
    None when no example of the batch has top-k (plain SFT examples included)."""
    width = min(seq_len, bucket(max(len(e.ids) for e in batch), WIDTH_BUCKET))
    x = torch.full((len(batch), width), pad_id, dtype=torch.long)
    y = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    w = torch.ones((len(batch), width))
    segments = [getattr(e, "topk", []) for e in batch]
    k = next((seg[0][1].shape[1] for seg in segments if seg), 0)
    tid = torch.zeros((len(batch), width, k), dtype=torch.long)
    tlp = torch.zeros((len(batch), width, k))
    has = torch.zeros((len(batch), width), dtype=torch.bool)
    for i, e in enumerate(batch):
        n = min(len(e.ids), width + 1)
        x[i, : n - 1] = torch.tensor(e.ids[: n - 1])
        y[i, : n - 1] = torch.tensor(e.labels[1:n])
        w[i] = process_weights(width, e.spans, weights or {})
        for s, ids, lps in segments[i]:  # row j (token s + j) goes to position s + j - 1
            rows = max(0, min(len(ids), n - s))
            tid[i, s - 1:s - 1 + rows] = ids[:rows]
            tlp[i, s - 1:s - 1 + rows] = lps[:rows]
            has[i, s - 1:s - 1 + rows] = True
    if not k:
        return x, y, w * (y != IGNORE), None, None, None
    return x, y, w * (y != IGNORE), tid, tlp, (y != IGNORE) & has
