"""Gold replay: a scripted model that answers every item exactly as its gold conversation does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.evaluation.fake_endpoint import Reply
from training.data.jsonl import write_jsonl


def prompt_key(messages: list[dict[str, Any]]) -> str:
    """The item a request belongs to: its messages before the first assistant turn."""
    head = []
    for m in messages:
        if m["role"] == "assistant":
            break
        head.append([m["role"], m.get("content")])
    return json.dumps(head)


def gold_replies(row: dict[str, Any]) -> list[Reply]:
    return [Reply(m.get("content") or "", [(c["function"]["name"], c["function"]["arguments"])
                                          for c in m.get("tool_calls") or ()])
            for m in row["messages"] if m["role"] == "assistant"]


class GoldModel:
    """Replies turn k of the item's gold conversation; `overrides[id]` replaces an item's replies."""

    def __init__(self, rows: list[dict[str, Any]], overrides: dict[str, Any] | None = None):
        self.by_key = {prompt_key(r["messages"]): r for r in rows}
        self.overrides = overrides or {}

    def __call__(self, body: dict[str, Any]) -> Reply:
        row = self.by_key[prompt_key(body["messages"])]
        turn = sum(m["role"] == "assistant" for m in body["messages"])
        script = self.overrides.get(row["id"], gold_replies(row))
        return script(turn) if callable(script) else script[min(turn, len(script) - 1)]


@pytest.fixture(scope="session")
def unique_rows(raw_rows: tuple[dict, list[dict]]) -> list[dict]:
    """Rows whose prompt no other row shares (a scripted model can tell them apart)."""
    _, rows = raw_rows
    counts: dict[str, int] = {}
    for r in rows:
        counts[prompt_key(r["messages"])] = counts.get(prompt_key(r["messages"]), 0) + 1
    return [r for r in rows if counts[prompt_key(r["messages"])] == 1]


def write_subset(path: Path, header: dict[str, Any], rows: list[dict[str, Any]]) -> Path:
    write_jsonl(path, {k: v for k, v in header.items() if k != "__header__"}, rows)
    return path
