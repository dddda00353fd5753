"""The tool registry (`configs/tools/*.json`): schemas, validation, argument normalization, fingerprint.

Normalization is the one definition of "the same call" shared by the fixture writer (generator)
and the tool broker (evaluation): defaults filled in, `None` dropped, free-text queries casefolded
and whitespace-collapsed, keys sorted. `fixture_key` is its canonical JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

DEFAULT_REGISTRY_DIR = Path(__file__).resolve().parents[2] / "configs" / "tools"

# Fields whose value is free text where case and spacing carry no meaning.
_FOLDED_FIELDS = {("web.search", "q")}


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    validator: Draft202012Validator = field(compare=False, repr=False)

    def openai(self) -> dict[str, Any]:
        """The tool in OpenAI `tools` format."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}

    def errors(self, arguments: Any) -> list[str]:
        """Schema violations as `path: message` strings; empty when valid."""
        if not isinstance(arguments, Mapping):
            return [f"arguments must be an object, not {type(arguments).__name__}"]
        out = []
        for err in sorted(self.validator.iter_errors(arguments), key=lambda e: list(e.absolute_path)):
            path = "/".join(str(p) for p in err.absolute_path) or "(root)"
            out.append(f"{path}: {err.message}")
        return out


class ToolRegistry:
    def __init__(self, tools: list[Tool]):
        self.tools = {t.name: t for t in sorted(tools, key=lambda t: t.name)}
        self._aliases = {}
        for name in self.tools:
            for alias in {name.replace(".", "_"), name.replace(".", "-"), name.replace("_", ".")}:
                self._aliases[alias] = name

    @classmethod
    def load(cls, directory: str | Path = DEFAULT_REGISTRY_DIR) -> ToolRegistry:
        tools = []
        for path in sorted(Path(directory).glob("*.json")):
            spec = json.loads(path.read_text(encoding="utf-8"))
            Draft202012Validator.check_schema(spec["parameters"])
            tools.append(Tool(spec["name"], spec["description"], spec["parameters"],
                              Draft202012Validator(spec["parameters"])))
        if not tools:
            raise ValueError(f"{directory}: no tool schemas found")
        return cls(tools)

    @property
    def sha256(self) -> str:
        """Fingerprint: sha256 of the canonical JSON of all schemas, sorted by name."""
        specs = [{"name": t.name, "description": t.description, "parameters": t.parameters}
                 for t in self.tools.values()]
        return hashlib.sha256(canonical_json(specs).encode()).hexdigest()

    def resolve(self, name: str) -> Tool | None:
        name = name.strip()
        if name in self.tools:
            return self.tools[name]
        alias = self._aliases.get(name)
        return self.tools[alias] if alias else None

    def openai_tools(self) -> list[dict[str, Any]]:
        return [t.openai() for t in self.tools.values()]

    def validate(self, name: str, arguments: Any) -> list[str]:
        tool = self.resolve(name)
        if tool is None:
            return [f"unknown tool {name!r}"]
        return tool.errors(arguments)

    def normalize(self, name: str, arguments: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """(canonical tool name, normalized arguments)."""
        tool = self.resolve(name)
        if tool is None:
            return name, _strip_none(dict(arguments))
        out = {}
        for key, prop in tool.parameters.get("properties", {}).items():
            value = arguments.get(key, prop.get("default"))
            if value is None:
                continue
            if isinstance(value, str):
                value = value.strip()
                if (tool.name, key) in _FOLDED_FIELDS:
                    value = " ".join(value.casefold().split())
            out[key] = _strip_none(value)
        for key, value in arguments.items():  # unknown keys are kept: they make a different call
            if key not in out and value is not None:
                out[key] = _strip_none(value)
        return tool.name, out

    def fixture_key(self, name: str, arguments: Mapping[str, Any]) -> str:
        return canonical_json(self.normalize(name, arguments)[1])


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


@cache
def default_registry() -> ToolRegistry:
    return ToolRegistry.load()
