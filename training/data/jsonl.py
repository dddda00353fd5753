"""JSONL datasets with a header line, read with line-numbered errors and written atomically.

A dataset file is `{"__header__": true, ...}` followed by one JSON object per line. Writers go
through `atomic_writer`, so a crash or a bad input never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO


class DataError(ValueError):
    """Bad input data: names the file and line (or field) that is wrong."""


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """Write to a temp file beside `path`; rename over it only if the block finishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a dataset is as readable as any other file
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(path: str | os.PathLike[str], header: dict[str, Any], rows: Any) -> int:
    """Atomically write a header and rows; returns the number of rows."""
    n = 0
    with atomic_writer(path) as f:
        f.write(dumps({"__header__": True, **header}) + "\n")
        for row in rows:
            f.write(dumps(row) + "\n")
            n += 1
    return n


def _parse(path: Path, lineno: int, line: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
    return obj


def read_header(path: str | os.PathLike[str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with path.open(encoding="utf-8") as f:
        first = f.readline()
    if not first.strip():
        raise DataError(f"{path}:1: empty file, expected a header line")
    header = _parse(path, 1, first)
    if header.get("__header__") is not True:
        raise DataError(f'{path}:1: missing header: the first line must be {{"__header__": true, ...}}')
    for key in required:
        if key not in header:
            raise DataError(f"{path}:1: header lacks field '{key}'")
    return header


def iter_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for every data line; blank lines are skipped, a second header is an error."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if lineno == 1 or not line.strip():
                continue
            row = _parse(path, lineno, line)
            if row.get("__header__"):
                raise DataError(f"{path}:{lineno}: unexpected second header line")
            yield lineno, row


def read_jsonl(path: str | os.PathLike[str], required: tuple[str, ...] = ()) -> tuple[dict, list[dict]]:
    header = read_header(path, required)
    return header, [row for _, row in iter_rows(path)]
