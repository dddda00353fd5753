"""Tool fixtures (`fixtures/<tool>.jsonl`, lines `{"name", "key", "result"}`), written by the generator
and replayed by the evaluation broker. Keys are canonical normalized arguments (`ToolRegistry.fixture_key`).

Several generator runs (shards, seeds) merge into one directory: writes take an exclusive lock, and
a key that already maps to a different result is an error (the world seed differs), never a silent
overwrite.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any

from training.data.jsonl import DataError, atomic_writer, dumps
from training.data.tools import ToolRegistry


class FixtureSet:
    def __init__(self, registry: ToolRegistry):
        self.registry = registry
        self.items: dict[str, dict[str, Any]] = {}  # tool name -> key -> result

    def add(self, name: str, arguments: dict[str, Any], result: dict[str, Any]) -> None:
        tool, _ = self.registry.normalize(name, arguments)
        key = self.registry.fixture_key(name, arguments)
        known = self.items.setdefault(tool, {}).setdefault(key, result)
        if known != result:
            raise DataError(f"fixture conflict for {tool} {key}: two different results")

    def __len__(self) -> int:
        return sum(len(v) for v in self.items.values())

    def merge_into(self, directory: Path) -> int:
        """Union with the fixture files in `directory`; returns the number of fixtures there now."""
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            total = 0
            for tool in sorted(set(self.items) | {p.stem for p in directory.glob("*.jsonl")}):
                path = directory / f"{tool}.jsonl"
                merged = load_fixture_file(path) if path.exists() else {}
                for key, result in self.items.get(tool, {}).items():
                    if merged.setdefault(key, result) != result:
                        raise DataError(f"{path}: fixture for {key} differs from this run's result "
                                        "(generated with another --world-seed?)")
                with atomic_writer(path) as f:
                    for key in sorted(merged):
                        f.write(dumps({"name": tool, "key": key, "result": merged[key]}) + "\n")
                total += len(merged)
        return total


def load_fixture_file(path: Path) -> dict[str, dict[str, Any]]:
    out = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out[row["key"]] = row["result"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DataError(f"{path}:{lineno}: bad fixture line ({exc})") from None
    return out
