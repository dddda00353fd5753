"""Token-level training data from an extracted contextual dataset.

Each sample becomes `ids` (prompt + teacher tokens, exactly the chat template's tokenization) and
`labels`: -100 on the prompt, on tool results (environment output, `<|tool|>` … `<|end|>`
included) and on padding; the teacher's own tokens are targets. Process-supervision positions
(tool names, JSON arguments, integration claims) are kept as full-sequence token spans so the
distillation losses can weight them.

Splits are by a stable hash of the sample id (never by file order), and batches are a pure
function of (seed, step): a resumed run sees exactly the batches the uninterrupted run would have.
The sequence-length curriculum buckets: a step with length limit L draws only samples of at most L
tokens; samples longer than the longest stage are truncated to it (and counted).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from modeling.checkpoint import sha256_file
from modeling.model import WIDTH_BUCKET, bucket
from modeling.tokenizer import KSTokenizer
from training.data import token_cache
from training.data.extract import check_tokenizer_fingerprint
from training.data.jsonl import DataError, iter_rows, read_header
from training.losses import IGNORE, process_weights


@dataclass
class Example:
    id: str
    ids: list[int]
    labels: list[int]
    spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # full-sequence token spans
    prompt_len: int = 0


def is_heldout(sample_id: str, fraction: float) -> bool:
    return int(hashlib.sha256(sample_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def to_example(row: dict, tok: KSTokenizer, encoded: tuple[list[int], list[int]] | None = None) -> Example:
    """The sample's training example; `encoded` is (prompt ids, teacher ids) when already made."""
    prompt, teacher = encoded or (tok.encode(row["prompt_text"]), tok.encode(row["teacher_text"]))
    meta = row["metadata"]
    if meta["num_tokens"]["teacher"] != len(teacher):
        raise DataError(f"sample {row['id']}: token spans were extracted with another tokenizer")
    ids = prompt + teacher
    labels = [IGNORE] * len(prompt) + teacher
    p = len(prompt)
    for ts, te in meta["spans"]["tool_result"]["tokens"]:
        for i in range(max(p, p + ts - 1), min(len(ids), p + te + 1)):  # `<|tool|>` … `<|end|>`
            labels[i] = IGNORE
    spans = {k: [(p + s, p + e) for s, e in meta["spans"][k]["tokens"]]
             for k in ("tool_name", "json_args", "integration")}
    return Example(row["id"], ids, labels, spans, p)


@dataclass
class SFTData:
    train: list[Example]
    heldout: list[Example]
    rows_heldout: list[dict]
    fingerprint: str
    truncated: int
    tools: list[dict]

    @classmethod
    def load(cls, path: Path, tok: KSTokenizer, max_len: int, heldout_fraction: float = 0.1,
             heldout_only: bool = False) -> SFTData:
        """`heldout_only`: the evaluation split alone (a run that trains on another stream, such as a
        KD mix, reads the dataset only to evaluate)."""
        header = read_header(path, required=("tokenizer_sha256", "tools"))
        check_tokenizer_fingerprint(path, header, tok)
        train, heldout, rows_heldout, truncated = [], [], [], 0
        fingerprint = dataset_fingerprint(path)
        rows = list(enumerate(iter_rows(path)))  # (index in the file, (line number, row))
        if heldout_only:  # (a split without held-out samples keeps all: validation then uses training samples)
            rows = [(i, (n, row)) for i, (n, row) in rows if is_heldout(str(row.get("id")), heldout_fraction)] or rows
        cached = token_cache.read(path, fingerprint, tok)
        if cached is not None:
            encoded = [ids for i, _ in rows for ids in cached[i]]
        else:
            try:  # encoded as one batch, on the tokenizer's threads
                texts = [text for _, (_, row) in rows for text in (row["prompt_text"], row["teacher_text"])]
            except (KeyError, TypeError) as exc:
                raise DataError(f"{path}: not an extracted sample ({exc})") from None
            encoded = tok.encode_batch(texts)
        for n, (_, (lineno, row)) in enumerate(rows):
            try:
                ex = to_example(row, tok, (encoded[2 * n], encoded[2 * n + 1]))
            except (KeyError, TypeError) as exc:
                raise DataError(f"{path}:{lineno}: not an extracted sample ({exc})") from None
            if len(ex.ids) > max_len:
                ex.ids, ex.labels, truncated = ex.ids[:max_len], ex.labels[:max_len], truncated + 1
            if is_heldout(ex.id, heldout_fraction):
                heldout.append(ex)
                rows_heldout.append(row)
            else:
                train.append(ex)
        if not train and not heldout_only:
            raise DataError(f"{path}: no training samples")
        return cls(train, heldout, rows_heldout, fingerprint, truncated, header["tools"])


def dataset_fingerprint(path: Path) -> str:
    """sha256 of the file: what resume, KD mixes and the token cache compare."""
    return sha256_file(path)


def fitting(examples: list[Example], seq_len: int) -> list[Example]:
    """The examples of at most `seq_len` tokens, in order: the pool `pick_batch` draws from."""
    return [e for e in examples if len(e.ids) <= seq_len]


def pick_batch(examples: list[Example], seq_len: int, global_batch: int, seed: int, draw: int,
               rank: int = 0, world: int = 1, pool: list[Example] | None = None) -> list[Example]:
    """This rank's share of draw number `draw`: `global_batch` samples from those that fit `seq_len`,
    the same on every rank and in every run, split into `world` contiguous chunks. `pool` is
    `fitting(examples, seq_len)` when the caller keeps it (a training loop asks at every step)."""
    if global_batch % world:
        raise ValueError(f"batch_size {global_batch} is not divisible by the {world} processes")
    pool = fitting(examples, seq_len) if pool is None else pool
    if not pool:
        raise DataError(f"no sample fits the curriculum's seq_len {seq_len} (shortest has "
                        f"{min(len(e.ids) for e in examples)} tokens); raise training.seq_len in the config")
    g = torch.Generator().manual_seed(seed * 1_000_003 + draw)
    picks = torch.randint(len(pool), (global_batch,), generator=g).tolist()
    per_rank = global_batch // world
    return [pool[i] for i in picks[rank * per_rank:(rank + 1) * per_rank]]


def collate(batch: list[Example], pad_id: int, seq_len: int,
            weights: dict[str, float] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded inputs (to the longest row rounded up to WIDTH_BUCKET, at most seq_len), shifted
    targets (position t predicts token t+1) and per-target loss weights: `weights[kind]` inside that
    kind of span (tool_name, json_args, integration), else 1."""
    width = min(seq_len, bucket(max(len(e.ids) for e in batch), WIDTH_BUCKET))
    x = torch.full((len(batch), width), pad_id, dtype=torch.long)
    y = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    w = torch.ones((len(batch), width))
    for i, e in enumerate(batch):
        ids, labels = e.ids[: width + 1], e.labels[: width + 1]
        x[i, : len(ids) - 1] = torch.tensor(ids[:-1])
        y[i, : len(labels) - 1] = torch.tensor(labels[1:])
        w[i] = process_weights(width, e.spans, weights or {})  # the weight of token p+1 sits at position p
    return x, y, w * (y != IGNORE)
