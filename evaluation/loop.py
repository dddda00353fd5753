"""The multi-turn loop: the model answers, the broker answers its tool calls, the results go back.

Each tool call is answered from fixtures and fed back as a `tool` message (the same JSON rendering
as the training data), until the model answers without calls or `max_turns` model turns are used.
The model therefore sees the results its own calls produced, and integration is scored against
exactly those results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from evaluation.broker import BrokerAnswer, ToolBroker
from evaluation.dataset import EvalItem
from evaluation.runners.base import Decoding, Runner, Turn


@dataclass
class Transcript:
    turns: list[Turn] = field(default_factory=list)
    answers: list[list[BrokerAnswer]] = field(default_factory=list)  # broker answers per turn
    final: str = ""  # the text of the turn without calls (empty when max_turns ran out)
    finished: bool = False  # the model answered without a call within max_turns

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(name as called, raw arguments) of every call, in order."""
        return [(c.name, c.arguments) for t in self.turns for c in t.tool_calls]

    @property
    def results(self) -> list[dict[str, Any]]:
        return [a.result for turn in self.answers for a in turn]


def assistant_message(turn: Turn, index: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.content or None}
    if turn.tool_calls:
        message["tool_calls"] = [{"id": f"call_{index}_{i}", "type": "function",
                                  "function": {"name": c.name, "arguments": c.arguments}}
                                 for i, c in enumerate(turn.tool_calls)]
    return message


def run_item(item: EvalItem, runner: Runner, broker: ToolBroker, tools: list[dict[str, Any]],
             decoding: Decoding, max_turns: int) -> Transcript:
    messages = [dict(m) for m in item.prompt]
    out = Transcript()
    for index in range(max_turns):
        turn = runner.turn(messages, tools, decoding)
        out.turns.append(turn)
        if not turn.tool_calls:
            out.final, out.finished = turn.content, True
            return out
        messages.append(assistant_message(turn, index))
        answers = [broker.call(c.name, c.arguments) for c in turn.tool_calls]
        out.answers.append(answers)
        for i, answer in enumerate(answers):
            messages.append({"role": "tool", "tool_call_id": f"call_{index}_{i}",
                             "content": json.dumps(answer.result, ensure_ascii=False, separators=(",", ":"))})
    return out
