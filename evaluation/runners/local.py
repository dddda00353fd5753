"""A runner that decodes from an artifact directory in process, through `modeling` only.

The conversation is rendered with the chat template the service uses, decoded greedily with the KV
cache (`modeling.generate.greedy`) to `<|end|>` or `max_tokens`, and split into text and tool calls
by `modeling.chat.parse_tool_calls`. Greedy is temperature 0, so this runner takes no other
temperature. Like the service answering a request with `tools` and `tool_choice: "auto"` (what the
OpenAI runner sends), a started tool call is constrained by `modeling.constrained` to a known tool
name and arguments that validate against that tool's schema: at temperature 0 both give the same
tokens.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from evaluation.runners.base import Decoding, RunnerError, ToolCall, Turn
from modeling.chat import END, parse_tool_calls, render_messages
from modeling.checkpoint import load_artifact
from modeling.constrained import ConstraintError, ConstraintSpec, Grammars, ToolSpec
from modeling.generate import greedy
from modeling.tokenizer import KSTokenizer


class LocalRunner:
    name = "local"

    def __init__(self, checkpoint: Path):
        self.model, _ = load_artifact(checkpoint)
        self.tok = KSTokenizer.load(checkpoint)
        self.grammars = Grammars.for_tokenizer(self.tok)
        self.lock = threading.Lock()  # one model, one KV cache: turns run one at a time

    def turn(self, messages: list[dict], tools: list[dict], decoding: Decoding) -> Turn:
        if decoding.temperature != 0:
            raise RunnerError("the local runner decodes greedily: use --temperature 0")
        started = time.perf_counter()
        prompt = self.tok.encode(render_messages(messages, tools, add_generation_prompt=True))
        if len(prompt) >= self.model.config.max_seq_len:
            raise RunnerError(f"prompt of {len(prompt)} tokens exceeds the model's context "
                              f"({self.model.config.max_seq_len})")
        constraint = None
        if tools:
            specs = tuple(ToolSpec(t["function"]["name"], t["function"].get("parameters") or {"type": "object"})
                          for t in tools)
            try:
                constraint = self.grammars.compile(ConstraintSpec("tools", tools=specs, mode="auto"))()
            except ConstraintError as exc:
                raise RunnerError(str(exc)) from None
        with self.lock:
            out = greedy(self.model, prompt, decoding.max_tokens, {self.tok.end_id}, constraint)
        finished = bool(out) and out[-1] == self.tok.end_id
        text = self.tok.decode(out[:-1] if finished else out)
        content, raw_calls = parse_tool_calls(text.removesuffix(END), partial=not finished)
        calls = [ToolCall(name, args) for name, args in raw_calls]
        reason = ("tool_calls" if calls else "stop") if finished else "length"
        e2e = time.perf_counter() - started
        return Turn(content, calls, reason, len(out), ttft_s=None, e2e_s=e2e, started=started)
