"""One choice's token ids -> content text and tool-call deltas, incrementally (the API side of the engine).

Tool calls are parsed at the token level: `<|tool_call|>` opens a call, the text up to `<|tool_args|>`
is its name, the text up to `<|/tool_call|>` its JSON arguments. Nothing is guessed from text, so a
streamed call and the non-streamed one are the same bytes. Text is decoded from each token's exact
bytes with an incremental UTF-8 decoder, so a character split across tokens is never garbled.

Stop strings apply to content text. Text that could still be the start of a stop string is held
back until it is decided (`StopMatcher`); the held text is released when the choice ends otherwise.
"""

from __future__ import annotations

import codecs
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from modeling.chat import END, TOOL_ARGS, TOOL_CALL, TOOL_CALL_END


@dataclass
class ToolCallDelta:
    index: int
    arguments: str = ""
    id: str | None = None  # only on a call's first delta, with the name
    name: str | None = None


@dataclass
class ChoiceDelta:
    content: str = ""
    tool_calls: list[ToolCallDelta] = field(default_factory=list)
    stopped: bool = False  # a stop string matched: the choice is over

    def __bool__(self) -> bool:
        return bool(self.content or self.tool_calls)


class StopMatcher:
    """Releases text as soon as no stop string can begin in it; truncates at the first full match."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to release, matched)."""
        buf = self.held + text
        if not self.stops:
            self.held = ""
            return buf, False
        hits = [i for i in (buf.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.held = ""
            return buf[: min(hits)], True
        keep = 0  # longest suffix of buf that is a proper prefix of some stop string
        for s in self.stops:
            for n in range(min(len(s) - 1, len(buf)), keep, -1):
                if buf.endswith(s[:n]):
                    keep = n
                    break
        self.held = buf[len(buf) - keep:]
        return buf[: len(buf) - keep], False

    def flush(self) -> str:
        out, self.held = self.held, ""
        return out


class ChoiceDecoder:
    """Feed a choice's tokens step by step; each call returns what is new for the client."""

    def __init__(self, token_bytes: Sequence[bytes], special_ids: dict[str, int], stops: Sequence[str] = (),
                 parse_tools: bool = True):
        self.token_bytes = token_bytes
        self.end_id = special_ids[END]
        self.call_id, self.args_id, self.call_end_id = (
            special_ids[TOOL_CALL], special_ids[TOOL_ARGS], special_ids[TOOL_CALL_END])
        self.parse_tools = parse_tools
        self.stop = StopMatcher(stops)
        self.text = codecs.getincrementaldecoder("utf-8")("replace")
        self.state = "content"  # content | name | args
        self.name = bytearray()
        self.num_calls = 0
        self.stopped = False

    def feed(self, tokens: Sequence[int]) -> ChoiceDelta:
        delta = ChoiceDelta()
        for token in tokens:
            if self.stopped:
                break
            self._token(token, delta)
        return delta

    def _token(self, token: int, delta: ChoiceDelta) -> None:
        if token == self.end_id:
            return
        if self.parse_tools and token == self.call_id and self.state == "content":
            self._content(self.text.decode(b"", final=True), delta)
            self.state, self.name = "name", bytearray()
        elif self.parse_tools and token == self.args_id and self.state == "name":
            call_id = f"call_{secrets.token_hex(12)}"
            delta.tool_calls.append(ToolCallDelta(self.num_calls, "", call_id, self.name.decode("utf-8", "replace")))
            self.state = "args"
        elif self.parse_tools and token == self.call_end_id and self.state == "args":
            self._arguments(self.text.decode(b"", final=True), delta)
            self.num_calls += 1
            self.state = "content"
        elif self.state == "name":
            self.name += self.token_bytes[token]
        elif self.state == "args":
            self._arguments(self.text.decode(self.token_bytes[token]), delta)
        else:
            self._content(self.text.decode(self.token_bytes[token]), delta)

    def _content(self, text: str, delta: ChoiceDelta) -> None:
        released, matched = self.stop.feed(text)
        delta.content += released
        self.stopped = delta.stopped = matched

    def _arguments(self, text: str, delta: ChoiceDelta) -> None:
        if not text:
            return
        last = delta.tool_calls[-1] if delta.tool_calls else None
        if last is not None and last.index == self.num_calls:
            last.arguments += text
        else:
            delta.tool_calls.append(ToolCallDelta(self.num_calls, text))

    def finish(self) -> ChoiceDelta:
        """Release held-back text when the choice ended for another reason than a stop string."""
        delta = ChoiceDelta()
        if self.stopped:
            return delta
        tail = self.text.decode(b"", final=True)
        if self.state == "content":
            released, matched = self.stop.feed(tail)
            delta.content = released + ("" if matched else self.stop.flush())
        elif self.state == "args":
            self._arguments(tail, delta)
        return delta

    @property
    def num_tool_calls(self) -> int:
        return self.num_calls + (1 if self.state == "args" else 0)
