"""What every teacher returns, and how a teacher's failure is classified.

A teacher answers one assistant turn at a time (`TeacherTurn`): the visible content, the tool calls,
why it stopped, and — when it can — per-token log-probabilities of what it generated. A reasoning
model's `reasoning_content` is kept apart in `reasoning`: it is never rendered into the training
text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from modeling.chat import ASSISTANT, render_message


class TeacherError(Exception):
    """One item could not be answered; `reason` is a short label for the report."""

    def __init__(self, message: str, reason: str = "error"):
        super().__init__(message)
        self.reason = reason


class MalformedResponse(TeacherError):
    """The teacher answered, but not with a chat completion we can read (skipped, never retried)."""

    def __init__(self, message: str, reason: str = "malformed"):
        super().__init__(message, reason)


class TeacherUnavailable(TeacherError):
    """Retries exhausted on 429 / 5xx / timeouts / connection errors."""


class TeacherFatal(TeacherError):
    """Nothing further can succeed (bad API key, unknown model): the run stops."""


class BudgetExhausted(TeacherError):
    """The token or spend budget is used up; no further requests are made."""

    def __init__(self, message: str):
        super().__init__(message, "budget_exhausted")


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token: its bytes, log-probability and the top alternatives as (bytes, logprob)."""

    token: bytes
    logprob: float
    top: tuple[tuple[bytes, float], ...]


@dataclass
class TeacherTurn:
    content: str
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON text)
    finish_reason: str = "stop"  # stop | tool_calls | length
    reasoning: str | None = None  # reasoning_content of thinking models; never a training target
    logprobs: list[TokenLogprob] | None = None  # HTTP teachers only
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False

    @property
    def empty(self) -> bool:
        return not self.content.strip() and not self.tool_calls

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    def check_tool_calls(self) -> None:
        """Every call needs a name and a JSON-object argument text, or the turn is malformed."""
        for name, args in self.tool_calls:
            if not name:
                raise MalformedResponse("a tool call has no function name", "tool_call")
            try:
                parsed = json.loads(args)
            except json.JSONDecodeError as exc:
                raise MalformedResponse(f"tool call {name!r}: arguments are not JSON ({exc.msg})",
                                        "tool_args") from None
            if not isinstance(parsed, dict):
                raise MalformedResponse(f"tool call {name!r}: arguments are not a JSON object", "tool_args")

    def render(self) -> str:
        """The turn as our chat template renders an assistant message, without the `<|assistant|>`
        header and ending with `<|end|>`."""
        calls = [{"type": "function", "function": {"name": n, "arguments": a}} for n, a in self.tool_calls]
        text = render_message({"role": "assistant", "content": self.content, "tool_calls": calls})
        return text[len(ASSISTANT):]
