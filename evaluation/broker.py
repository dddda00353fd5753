"""The tool broker: answers a model's tool calls by replaying fixtures, never by running anything.

Lookup is by (canonical tool name, canonical JSON of the normalized arguments), the same
`ToolRegistry.fixture_key` the generator used to write the fixtures, so aliases (`web_search`),
argument order, defaults and query case do not matter. Anything else the model sends gets a
structured error result the model can read and react to:

- `fixture_miss`: a known tool called with arguments no fixture holds (counted: fixture hit rate);
- `invalid_arguments`: arguments that are not a JSON object;
- `unknown_tool`: a name the registry does not know.

Every answer records its provenance (`fixture` or `broker`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.data.fixtures import load_fixture_file
from training.data.tools import ToolRegistry


@dataclass(frozen=True)
class BrokerAnswer:
    name: str  # canonical name when known, else as called
    key: str | None  # canonical arguments, None when they did not parse
    result: dict[str, Any]
    hit: bool  # answered from a fixture
    looked_up: bool  # a fixture lookup happened (known tool, arguments an object): counts for hit rate

    @property
    def provenance(self) -> str:
        return "fixture" if self.hit else "broker"


class ToolBroker:
    def __init__(self, fixtures: dict[str, dict[str, Any]], registry: ToolRegistry):
        self.fixtures, self.registry = fixtures, registry

    @classmethod
    def load(cls, directory: Path, registry: ToolRegistry) -> ToolBroker:
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: no fixtures directory (written by `kimi-student data gen`)")
        return cls({p.stem: load_fixture_file(p) for p in sorted(directory.glob("*.jsonl"))}, registry)

    def __len__(self) -> int:
        return sum(len(v) for v in self.fixtures.values())

    def call(self, name: str, arguments: str | dict[str, Any]) -> BrokerAnswer:
        """Answer one call; `arguments` is the raw JSON string the model produced (or an object)."""
        args = arguments
        if isinstance(arguments, str):
            try:
                args = json.loads(arguments)
            except json.JSONDecodeError as exc:
                return BrokerAnswer(name, None, {"ok": False, "error": "invalid_arguments",
                                                 "detail": f"arguments are not valid JSON: {exc.msg}"}, False, False)
        if not isinstance(args, dict):
            return BrokerAnswer(name, None, {"ok": False, "error": "invalid_arguments",
                                             "detail": "arguments must be a JSON object"}, False, False)
        tool = self.registry.resolve(name)
        if tool is None:
            return BrokerAnswer(name, None, {"ok": False, "error": "unknown_tool", "name": name}, False, False)
        canonical, normalized = self.registry.normalize(tool.name, args)
        key = self.registry.fixture_key(tool.name, args)
        result = self.fixtures.get(canonical, {}).get(key)
        if result is None:
            return BrokerAnswer(canonical, key, {"ok": False, "error": "fixture_miss", "name": canonical,
                                                 "arguments": normalized, "key_normalized": key}, False, True)
        return BrokerAnswer(canonical, key, result, True, True)
