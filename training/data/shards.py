"""Merging generator shards back into one dataset, checking that they form one partition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.data.jsonl import DataError, iter_rows, read_header, write_jsonl

_SAME = ("dataset_version", "seed", "world_seed", "total_samples", "num_shards", "tool_registry_sha256")


def merge(out: Path, shards: list[Path]) -> dict[str, Any]:
    """Union of the shards in global index order, with the header an unsharded run would write.

    Refuses shards of different runs, a repeated or missing shard index, and overlapping ids.
    """
    if not shards:
        raise DataError("no shard files given")
    headers = [read_header(p, required=(*_SAME, "shard_index")) for p in shards]
    first = headers[0]
    for path, h in zip(shards, headers, strict=True):
        for key in _SAME:
            if h[key] != first[key]:
                raise DataError(f"{path}:1: header field '{key}' is {h[key]!r}, but {shards[0]} has {first[key]!r}")
    indices = sorted(h["shard_index"] for h in headers)
    if indices != list(range(first["num_shards"])):
        raise DataError(f"shard indices {indices} do not cover 0..{first['num_shards'] - 1} exactly once")
    rows: dict[int, dict[str, Any]] = {}
    for path in shards:
        for lineno, row in iter_rows(path):
            index = row["metadata"]["provenance"]["index"]
            if index in rows:
                raise DataError(f"{path}:{lineno}: sample {row['id']} appears in two shards")
            rows[index] = row
    header = {k: v for k, v in first.items() if k != "__header__"}
    header.update(num_shards=1, shard_index=0)
    count = write_jsonl(out, header, (rows[i] for i in sorted(rows)))
    return {"out": str(out), "samples": count, "shards": len(shards)}
