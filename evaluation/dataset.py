"""Evaluation items from a contextual dataset: the prompt the model sees and the gold it is scored on.

The prompt is the conversation up to the first assistant message (system + user); everything after
it is gold: the calls of `metadata.call_sequence`, the expected behaviour and the tool results the
gold trajectory received. Shards are chosen by a stable hash of the sample id (sha256, first 8
bytes, mod N), so a shard's items never depend on file order and the shards partition the set.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.data.jsonl import DataError, iter_rows, read_header
from training.data.tools import ToolRegistry
from training.sft_data import is_heldout


@dataclass(frozen=True)
class EvalItem:
    id: str
    prompt: list[dict[str, Any]]  # messages before the first assistant turn
    gold_calls: list[tuple[str, Any]]  # (name, arguments) in order
    gold_results: list[Any]  # tool results of the gold trajectory, in order
    behaviour: str
    lang: str
    scenario: str
    complexity: str
    structure: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EvalItem:
        meta, messages = row["metadata"], row["messages"]
        first = next((i for i, m in enumerate(messages) if m.get("role") == "assistant"), len(messages))
        results = []
        for m in messages:
            if m.get("role") == "tool":
                try:
                    results.append(json.loads(m.get("content") or ""))
                except json.JSONDecodeError:
                    results.append({"ok": False, "error": "unparseable"})
        return cls(
            id=str(row["id"]), prompt=[dict(m) for m in messages[:first]],
            gold_calls=[(c["name"], c["arguments"]) for c in meta.get("call_sequence", [])],
            gold_results=results, behaviour=meta.get("expected_behaviour", "tool_use"),
            lang=meta.get("lang", "en"), scenario=meta.get("scenario", "unknown"),
            complexity=meta.get("complexity", "unknown"), structure=meta.get("structure", "unknown"))


def shard_of(item_id: str, num_shards: int) -> int:
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "little") % num_shards


def load_items(path: Path, *, split: str = "all", heldout_fraction: float = 0.1, num_shards: int = 1,
               shard_index: int = 0, limit: int | None = None) -> tuple[dict[str, Any], list[EvalItem]]:
    """(dataset header, items in file order) after the split, shard and limit filters."""
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"--shard-index {shard_index} is outside 0..{num_shards - 1}")
    header = read_header(path)
    items = []
    for lineno, row in iter_rows(path):
        try:
            item = EvalItem.from_row(row)
        except (KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"{path}:{lineno}: not a contextual sample ({type(exc).__name__}: {exc})") from None
        if split == "heldout" and not is_heldout(item.id, heldout_fraction):
            continue
        if split == "train" and is_heldout(item.id, heldout_fraction):
            continue
        if num_shards > 1 and shard_of(item.id, num_shards) != shard_index:
            continue
        items.append(item)
        if limit is not None and len(items) >= limit:
            break
    return header, items


def tools_for(mode: str, header: dict[str, Any], registry: ToolRegistry) -> list[dict[str, Any]]:
    """What the model sees: the dataset's whole tool list (`all`) or the live registry (`registry`);
    never only the tools the gold answer uses."""
    if mode == "all" and header.get("tools"):
        return list(header["tools"])
    return registry.openai_tools()
