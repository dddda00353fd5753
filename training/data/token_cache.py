"""The token ids of an extracted dataset, computed once by `extract` and read back by its readers.

Each reader of an extracted dataset needs every sample's `prompt_text` and `teacher_text` as token ids:
`verify` (span alignment), the trainer (`SFTData`) and the KD mix (`kd_mix._select`). Encoding the toy
dataset's 10k samples (12 M tokens) takes 9-11 s on 2 cores, so the bootstrap paid for it four times.
`extract` already encodes both texts of every sample; it writes them beside the dataset as
`<dataset>.tokens.npz`: `ids` (int32, all texts end to end), `offsets` (int64, 2N + 1: sample n's prompt
is ids[offsets[2n]:offsets[2n+1]], its teacher text the next range) and `meta` (JSON: the dataset's
sha256, the tokenizer's sha256, N).

A reader takes the cache only when both hashes match the files it reads (anything else — missing,
stale, truncated, unreadable — is a miss, and it encodes as before), so the cache can speed a reader
up but never change what it reads.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from modeling.tokenizer import KSTokenizer

log = logging.getLogger(__name__)


def cache_path(dataset: Path) -> Path:
    return dataset.with_name(dataset.name + ".tokens.npz")


def write(dataset: Path, dataset_sha256: str, tok: KSTokenizer, encodings: list[tuple[list[int], list[int]]]) -> Path:
    """Store (prompt ids, teacher ids) per sample, in file order, for `dataset` (whose sha256 is given)."""
    lengths = [len(ids) for pair in encodings for ids in pair]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter((i for pair in encodings for ids in pair for i in ids), dtype=np.int32, count=int(offsets[-1]))
    meta = {"dataset_sha256": dataset_sha256, "tokenizer_sha256": tok.sha256, "samples": len(encodings)}
    out = cache_path(dataset)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, ids=flat, offsets=offsets, meta=np.array(json.dumps(meta)))
    os.replace(tmp, out)
    return out


class Encodings:
    """(prompt ids, teacher ids) of sample k, in file order, made into lists when asked for: a reader of a
    subset (the held-out split, the first N samples) converts only those."""

    def __init__(self, flat: np.ndarray, bounds: list[int]):
        self.flat, self.bounds = flat, bounds

    def __len__(self) -> int:
        return (len(self.bounds) - 1) // 2

    def __getitem__(self, k: int) -> tuple[list[int], list[int]]:
        if not 0 <= k < len(self):
            raise IndexError(k)
        a, b, c = self.bounds[2 * k:2 * k + 3]
        return self.flat[a:b].tolist(), self.flat[b:c].tolist()

    def __iter__(self) -> Iterator[tuple[list[int], list[int]]]:
        return (self[k] for k in range(len(self)))


def read(dataset: Path, dataset_sha256: str, tok: KSTokenizer) -> Encodings | None:
    """(prompt ids, teacher ids) per sample in file order, or None when there is no cache for exactly
    this dataset and tokenizer."""
    path = cache_path(dataset)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("dataset_sha256") != dataset_sha256 or meta.get("tokenizer_sha256") != tok.sha256:
                return None
            flat, offsets = z["ids"], z["offsets"]
        n = int(meta["samples"])
        if offsets.shape != (2 * n + 1,) or offsets[0] != 0 or offsets[-1] != flat.shape[0] \
                or (np.diff(offsets) < 0).any():
            raise ValueError("offsets do not cover the ids")
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        log.warning("%s: unreadable token cache (%s); encoding instead", path, exc)
        return None
    return Encodings(flat, offsets.tolist())
