"""The chat format shared by the data pipeline, the trainer, the service and the exporters.

Design choices:
- Every structural boundary is a special token, so byte-level BPE never merges across it: a tool
  name and its JSON arguments each sit between two special tokens and their token spans are exact.
- A tool call is `<|tool_call|>NAME<|tool_args|>{json}<|/tool_call|>`, which a grammar can enforce
  (name from an enum, then a JSON-schema-constrained object).
- Tools are rendered as one compact signature per line (`name(required, optional?)`), not as full
  JSON Schemas: the toy students see the registry on every sample and must not pay 1k tokens for it.
- `render_messages` (Python) and `CHAT_TEMPLATE` (Jinja, stored in `tokenizer_config.json`) produce
  identical text; a test guards it through `transformers.apply_chat_template`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PAD = "<|pad|>"
BOS = "<|bos|>"
END = "<|end|>"  # end of a turn; the stop token of generation
SYSTEM = "<|system|>"
TOOLS = "<|tools|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
TOOL = "<|tool|>"
TOOL_CALL = "<|tool_call|>"
TOOL_ARGS = "<|tool_args|>"
TOOL_CALL_END = "<|/tool_call|>"

# Order fixes the ids: PAD = 0, BOS = 1, END = 2, ...
SPECIAL_TOKENS: tuple[str, ...] = (
    PAD, BOS, END, SYSTEM, TOOLS, USER, ASSISTANT, TOOL, TOOL_CALL, TOOL_ARGS, TOOL_CALL_END,
)
ROLE_TOKENS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT, "tool": TOOL}

CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- set ns = namespace(start=0) -%}"
    "{%- if messages and messages[0].role == 'system' -%}"
    "<|system|>{{ messages[0].content if messages[0].content is string "
    "else messages[0].content | map(attribute='text') | join('') }}<|end|>"
    "{%- set ns.start = 1 -%}{%- endif -%}"
    "{%- if tools -%}<|tools|>"
    "{%- for t in tools -%}{%- set f = t.function if t.function is defined else t -%}"
    "{%- set req = f.parameters.required if f.parameters.required is defined else [] -%}"
    "{{ f.name }}("
    "{%- for k in f.parameters.properties -%}{{ k }}{{ '' if k in req else '?' }}"
    "{{ ', ' if not loop.last else '' }}{%- endfor -%})"
    "{{ '\\n' if not loop.last else '' }}{%- endfor -%}<|end|>{%- endif -%}"
    "{%- for m in messages[ns.start:] -%}"
    "<|{{ m.role }}|>"
    "{%- if m.content is string -%}{{ m.content }}"
    "{%- elif m.content -%}{{ m.content | map(attribute='text') | join('') }}{%- endif -%}"
    "{%- if m.tool_calls is defined and m.tool_calls -%}{%- for c in m.tool_calls -%}"
    "<|tool_call|>{{ c.function.name }}<|tool_args|>"
    "{{ c.function.arguments if c.function.arguments is string else c.function.arguments | tojson }}"
    "<|/tool_call|>{%- endfor -%}{%- endif -%}"
    "<|end|>"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)

_TOOL_CALL_RE = re.compile(
    re.escape(TOOL_CALL) + r"(.*?)" + re.escape(TOOL_ARGS) + r"(.*?)" + re.escape(TOOL_CALL_END), re.S
)


class ChatFormatError(ValueError):
    """A message list that cannot be rendered (unknown role, wrong content type)."""


def content_text(content: Any) -> str:
    """The text of an OpenAI message content: a string, None, or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, Mapping) or part.get("type", "text") != "text":
                raise ChatFormatError("only text content parts are supported")
            parts.append(str(part.get("text", "")))
        return "".join(parts)
    raise ChatFormatError(f"message content must be a string or a list of parts, not {type(content).__name__}")


def dump_arguments(arguments: Mapping[str, Any]) -> str:
    """The canonical rendering of tool-call arguments in training text: compact, key order kept."""
    return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def tool_signature(tool: Mapping[str, Any]) -> str:
    """`name(required, optional?)` for an OpenAI tool or a bare function spec."""
    fn = tool.get("function", tool)
    params = fn.get("parameters") or {}
    required = set(params.get("required") or ())
    names = [k if k in required else f"{k}?" for k in (params.get("properties") or {})]
    return f"{fn['name']}({', '.join(names)})"


def render_tools(tools: Iterable[Mapping[str, Any]]) -> str:
    return TOOLS + "\n".join(tool_signature(t) for t in tools) + END


def render_message(message: Mapping[str, Any]) -> str:
    role = message.get("role")
    if role not in ROLE_TOKENS:
        raise ChatFormatError(f"unknown message role {role!r}")
    out = [ROLE_TOKENS[role], content_text(message.get("content"))]
    for call in message.get("tool_calls") or ():
        fn = call["function"]
        args = fn["arguments"]
        out += [TOOL_CALL, fn["name"], TOOL_ARGS, args if isinstance(args, str) else dump_arguments(args),
                TOOL_CALL_END]
    out.append(END)
    return "".join(out)


def render_messages(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    add_generation_prompt: bool = False,
) -> str:
    """Render a conversation exactly as `CHAT_TEMPLATE` does."""
    out = [BOS]
    rest = list(messages)
    if rest and rest[0].get("role") == "system":
        out.append(render_message(rest.pop(0)))
    if tools:
        out.append(render_tools(tools))
    out.extend(render_message(m) for m in rest)
    if add_generation_prompt:
        out.append(ASSISTANT)
    return "".join(out)


def split_prompt(messages: Sequence[Mapping[str, Any]]) -> int:
    """Index of the first assistant message: everything before it is the prompt."""
    for i, m in enumerate(messages):
        if m.get("role") == "assistant":
            return i
    raise ChatFormatError("conversation has no assistant message")


def render_sample(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None
) -> tuple[str, str]:
    """(prompt_text, teacher_text): the prompt ends with the assistant header; the teacher text is
    everything the assistant side produces from there on, tool results included, so
    `prompt_text + teacher_text == render_messages(messages, tools)`."""
    k = split_prompt(messages)
    prompt = render_messages(messages[:k], tools, add_generation_prompt=True)
    full = render_messages(messages, tools)
    return prompt, full[len(prompt):]


def parse_tool_calls(text: str, partial: bool = False) -> tuple[str, list[tuple[str, str]]]:
    """Split generated assistant text into (content, [(name, arguments_json)]).

    `partial` reads a cut-off text (max_tokens) as the service's token-level parser streams it: an
    unterminated last call whose `<|tool_args|>` was written is a call with the arguments so far, and
    nothing from an unterminated `<|tool_call|>` on is content."""
    calls = [(m.group(1), m.group(2)) for m in _TOOL_CALL_RE.finditer(text)]
    content = _TOOL_CALL_RE.sub("", text)
    if partial and TOOL_CALL in content:
        content, _, rest = content.partition(TOOL_CALL)
        name, sep, arguments = rest.partition(TOOL_ARGS)
        if sep:
            calls.append((name, arguments))
    return content, calls
