"""Constrained decoding: xgrammar token masks inside a small tool-call state machine.

The chat format marks structure with special tokens (`<|tool_call|>NAME<|tool_args|>{json}<|/tool_call|>`,
`<|end|>`), so the structure is a token-level state machine and xgrammar only constrains the text
segments: the tool name (an alternation of the allowed names) and the JSON (a JSON Schema). Each
segment's matcher uses the token that closes it (`<|tool_args|>`, `<|/tool_call|>` or `<|end|>`) as
its stop token, so a segment can only close where its grammar is complete. Special tokens are given
no bytes in xgrammar's vocabulary, so a segment can never contain one.

A `Constraint` is one choice's state: `mask(logits)` before sampling, `advance(token)` after.
Speculative verification applies `mask` at each draft position after advancing over the accepted
drafts, so rejected drafts never enter the state (nothing to roll back).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import xgrammar as xgr
from torch import Tensor

from modeling.chat import END, SPECIAL_TOKENS, TOOL_ARGS, TOOL_CALL, TOOL_CALL_END
from modeling.tokenizer import KSTokenizer

NEG_INF = float("-inf")


@dataclass(frozen=True)
class ToolSpec:
    name: str
    parameters: dict[str, Any]  # JSON Schema of the arguments object


@dataclass(frozen=True)
class ConstraintSpec:
    """What constrained decoding enforces: a JSON document, or the tool-call structure.

    kind "json": the whole output is one JSON value (schema None = any JSON object).
    kind "tools": tool_choice `mode` over `tools` (auto: free text, but a started call is
    well-formed; required/named: one or more calls and nothing else; none: no call at all).
    """

    kind: Literal["json", "tools"]
    schema: dict[str, Any] | None = None
    tools: tuple[ToolSpec, ...] = ()
    mode: Literal["auto", "required", "named", "none"] = "auto"
    parallel: bool = True


class ConstraintError(ValueError):
    """A schema or tool list that cannot be compiled into a grammar (a 400 for the client)."""


class Segment:
    """One xgrammar matcher whose stop token is the special token that closes the segment.

    Masked on top of xgrammar's mask: every other special token (with no bytes, xgrammar would let a
    non-stop one through anywhere) and tokens holding a control byte (< 0x20), since xgrammar's JSON
    strings admit raw control characters, which strict parsers (`json.loads`, the openai SDK) reject."""

    def __init__(self, grammar: xgr.CompiledGrammar, closer: int, vocab_size: int, banned: Tensor):
        self.matcher = xgr.GrammarMatcher(grammar, override_stop_tokens=[closer])
        self.bitmask = xgr.allocate_token_bitmask(1, vocab_size)
        self.closer, self.banned = closer, banned
        self.text = bytearray()  # bytes accepted so far (the tool name is read from here)

    def mask(self, logits: Tensor) -> None:
        self.matcher.fill_next_token_bitmask(self.bitmask)
        xgr.apply_token_bitmask_inplace(logits.view(1, -1), self.bitmask)
        logits[self.banned] = NEG_INF

    def advance(self, token: int, token_bytes: bytes) -> bool:
        """Accept `token`; True when it closed the segment."""
        if not self.matcher.accept_token(token):
            raise ConstraintError(f"token {token} violates the grammar")
        if token == self.closer:
            return True
        self.text += token_bytes
        return False


class Constraint:
    """Per-choice state: free text, or inside a tool name, tool arguments or a JSON document."""

    def __init__(self, grammars: Grammars, spec: ConstraintSpec, compiled: dict[str, Any]):
        self.g, self.spec, self.compiled = grammars, spec, compiled
        self.segment: Segment | None = None
        self.state = "free"  # free | call_start | name | args | after_call | done
        if spec.kind == "json":
            self.segment, self.state = grammars.segment(compiled["json"], grammars.end_id), "json"
        elif spec.mode in ("required", "named"):
            self.state = "call_start"

    def _only(self, logits: Tensor, allowed: Sequence[int]) -> None:
        keep = logits[list(allowed)].clone()
        logits.fill_(NEG_INF)
        logits[list(allowed)] = keep

    def mask(self, logits: Tensor) -> Tensor:
        """Set every token the state forbids to -inf (in place); returns logits."""
        g = self.g
        if self.segment is not None:
            self.segment.mask(logits)
        elif self.state == "call_start":
            self._only(logits, [g.tool_call_id])
        elif self.state == "after_call":
            self._only(logits, [g.end_id, g.tool_call_id] if self.spec.parallel else [g.end_id])
        elif self.state == "free":
            banned = [g.tool_args_id, g.tool_call_end_id]
            if self.spec.kind == "tools" and self.spec.mode == "none":
                banned.append(g.tool_call_id)
            logits[banned] = NEG_INF
        return logits

    def advance(self, token: int) -> None:
        g = self.g
        if self.segment is not None:
            if not self.segment.advance(token, g.token_bytes[token]):
                return
            name = self.segment.text.decode("utf-8", "replace")
            self.segment = None
            if self.state == "name":
                self.segment = g.segment(self.compiled["args"][name], g.tool_call_end_id)
                self.state = "args"
            else:  # args closed -> another call or the end; json closed by <|end|>
                self.state = "after_call" if self.state == "args" else "done"
        elif token == g.tool_call_id and self.state in ("free", "call_start", "after_call"):
            self.segment, self.state = g.segment(self.compiled["names"], g.tool_args_id), "name"


_NOT_SCHEMAS = ("const", "enum", "default", "examples")  # values, not subschemas: left as they are


def full_match_patterns(schema: Any) -> Any:
    """`schema` with every string `pattern` rewritten for a full-match regex engine.

    JSON Schema patterns are searches (ECMA-262, not implicitly anchored: `^https://` accepts any
    string that starts so), while xgrammar matches a pattern against the whole string (it would
    accept `https://` followed by nothing). An unanchored end becomes `.*`, an anchor is dropped.
    Anchors are read at the two ends of the whole pattern only (`^a|b$` is not split per branch)."""
    if isinstance(schema, list):
        return [full_match_patterns(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "pattern" and isinstance(value, str):
            out[key] = _full_match(value)
        elif key in _NOT_SCHEMAS:
            out[key] = value
        else:
            out[key] = full_match_patterns(value)
    return out


def _full_match(pattern: str) -> str:
    core, head, tail = pattern, ".*", ".*"
    if core.startswith("^"):
        core, head = core[1:], ""
    body = core[:-1]
    if core.endswith("$") and (len(body) - len(body.rstrip("\\"))) % 2 == 0:  # `$`, not an escaped `\$`
        core, tail = body, ""
    return f"{head}({core}){tail}"


def _ebnf_literal(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid EBNF string literal


class Grammars:
    """Compiles ConstraintSpecs for one tokenizer (xgrammar caches compiled grammars)."""

    def __init__(self, token_bytes: Sequence[bytes], special_ids: dict[str, int]):
        self.vocab_size = len(token_bytes)
        self.token_bytes = list(token_bytes)
        self.end_id = special_ids[END]
        self.tool_call_id, self.tool_args_id = special_ids[TOOL_CALL], special_ids[TOOL_ARGS]
        self.tool_call_end_id = special_ids[TOOL_CALL_END]
        special = {special_ids[t] for t in SPECIAL_TOKENS}
        encoded = [b"" if i in special else b for i, b in enumerate(token_bytes)]
        info = xgr.TokenizerInfo(encoded, vocab_type=xgr.VocabType.RAW, vocab_size=self.vocab_size,
                                 stop_token_ids=[self.end_id])
        self.compiler = xgr.GrammarCompiler(info)
        self.special_ids = sorted(special)
        self.control_ids = [i for i, b in enumerate(encoded) if any(c < 0x20 for c in b)]

    @classmethod
    def for_tokenizer(cls, tok: KSTokenizer) -> Grammars:
        return cls(tok.token_bytes, {t: tok.tk.token_to_id(t) for t in SPECIAL_TOKENS})

    def segment(self, grammar: xgr.CompiledGrammar, closer: int) -> Segment:
        banned = [i for i in self.special_ids if i != closer] + self.control_ids
        return Segment(grammar, closer, self.vocab_size, torch.tensor(banned, dtype=torch.long))

    def json_grammar(self, schema: dict[str, Any] | None) -> xgr.CompiledGrammar:
        try:
            return self.compiler.compile_json_schema(
                json.dumps(full_match_patterns(schema) if schema is not None else {"type": "object"}),
                any_whitespace=False, separators=(",", ":"), strict_mode=True,
            )
        except Exception as exc:  # xgrammar raises RuntimeError/ValueError with the schema problem
            raise ConstraintError(f"unsupported JSON schema: {exc}") from None

    def compile(self, spec: ConstraintSpec) -> Callable[[], Constraint]:
        """Compile once per request; the returned factory builds a fresh state per choice."""
        compiled: dict[str, Any] = {}
        if spec.kind == "json":
            compiled["json"] = self.json_grammar(spec.schema)
        elif spec.mode != "none":
            if not spec.tools:
                raise ConstraintError("tool_choice needs at least one tool")
            names = " | ".join(_ebnf_literal(t.name) for t in spec.tools)
            compiled["names"] = self.compiler.compile_grammar(f"root ::= {names}")
            compiled["args"] = {t.name: self.json_grammar(t.parameters or {"type": "object"}) for t in spec.tools}
        return lambda: Constraint(self, spec, compiled)


def masked(logits: Tensor, constraint: Constraint | None) -> Tensor:
    """A float32 copy of logits [V] with the constraint's mask applied (the input is left as is)."""
    out = logits.float().clone()
    return out if constraint is None else constraint.mask(out)
