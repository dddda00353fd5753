"""What every runner returns for one assistant turn, and the decoding settings it is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Decoding:
    temperature: float = 0.0
    seed: int = 42
    max_tokens: int = 256


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # the raw JSON text the model produced; may be malformed


@dataclass
class Turn:
    """One model answer: text, tool calls, and client-side timings."""

    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    completion_tokens: int = 0
    ttft_s: float | None = None  # first content or tool-call delta
    e2e_s: float = 0.0
    started: float = 0.0  # perf_counter at request start (for the harness overhead)
    attempts: int = 1


class RunnerError(Exception):
    """A turn the runner could not get (endpoint down, retries exhausted, protocol error)."""


class Runner(Protocol):
    name: str

    def turn(self, messages: list[dict], tools: list[dict], decoding: Decoding) -> Turn: ...
