"""An episode: a task, the tool calls an agent makes against the world, and its final answer.

Scenario builders (`training.data.scenarios`) drive an `Episode` imperatively: each `call` runs
against the world at once, so later arguments and the answer are derived from real results.
`to_messages` turns the episode into OpenAI chat messages.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from modeling.chat import dump_arguments
from training.data import phrases
from training.data.world import World


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    result: dict[str, Any]


@dataclass
class Turn:
    note: str
    calls: list[ToolCall]


@dataclass
class Episode:
    world: World
    rng: random.Random
    lang: str = "en"
    locale_probe: bool = False
    task: str = ""
    turns: list[Turn] = field(default_factory=list)
    answer: str = ""
    claims: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    def say(self, key: str, **values: Any) -> str:
        return phrases.phrase(key, self.lang, **values)

    def call(self, *calls: tuple[str, dict[str, Any]], note: str = "") -> list[dict[str, Any]]:
        """Run one assistant turn of (parallel) calls; returns their results."""
        made = [ToolCall(name, args, self.world.call(name, args)) for name, args in calls]
        self.turns.append(Turn(note, made))
        return [c.result for c in made]

    def conclude(self, key: str, **values: Any) -> None:
        text, claims = phrases.fill(key, self.lang, **values)
        self.answer = f"{self.answer} {text}".strip() if self.answer else text
        self.claims += claims

    def say_answer(self, text: str) -> None:
        """A final answer with no integration claims (controls, failures)."""
        self.answer = text

    def num(self, value: float | int) -> str:
        return phrases.format_number(value, self.lang) if self.locale_probe else str(value)

    def date(self, iso: str) -> str:
        return phrases.format_date(iso, self.lang) if self.lang != "en" else iso

    @property
    def calls(self) -> list[ToolCall]:
        return [c for t in self.turns for c in t.calls]

    def attempts(self) -> list[dict[str, Any]]:
        return [{"call": {"name": c.name, "arguments": c.arguments}, "ok": bool(c.result.get("ok")),
                 "result": c.result} for c in self.calls]

    def to_messages(self, system: str, call_id_prefix: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": system},
                                          {"role": "user", "content": self.task}]
        k = 0
        for turn in self.turns:
            tool_calls, results = [], []
            for c in turn.calls:
                cid = f"{call_id_prefix}_{k}"
                k += 1
                tool_calls.append({"id": cid, "type": "function",
                                   "function": {"name": c.name, "arguments": dump_arguments(c.arguments)}})
                results.append({"role": "tool", "tool_call_id": cid,
                                "content": json.dumps(c.result, ensure_ascii=False, separators=(",", ":"))})
            messages.append({"role": "assistant", "content": turn.note or None, "tool_calls": tool_calls})
            messages += results
        messages.append({"role": "assistant", "content": self.answer})
        return messages
