"""Tool-call scores: selection, BFCL-style AST match, JSON validity, multi-call parity.

AST match (after BFCL's ast_checker): names resolve through the registry's aliases (`web_search`
is `web.search`); both sides are normalized by the registry (defaults filled in, so an omitted
optional parameter equals its default; `None` dropped; free-text queries folded); numbers compare by
value (int 3 equals float 3.0) but never equal booleans or strings; strings compare after BFCL's
normalization (spaces and `,./-_*^` removed, lowercased, `'` as `"`); list order is significant;
parallel calls match in any order (`training.toolcall_eval.calls_match`, the trainer's definition).
`args_exact` is the same match without the string normalization.
"""

from __future__ import annotations

import json
import re
from typing import Any

from training.data.tools import ToolRegistry
from training.toolcall_eval import calls_match

_BFCL_STRIP = re.compile(r"[ ,./\-_*^]")


def bfcl_string(s: str) -> str:
    return _BFCL_STRIP.sub("", s).lower().replace("'", '"')


def _strings(value: Any) -> Any:
    if isinstance(value, str):
        return bfcl_string(value)
    if isinstance(value, dict):
        return {k: _strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v) for v in value]
    return value


def parse_arguments(raw: str | Any) -> Any:
    """The arguments as JSON, or None when they do not parse as a JSON object."""
    if not isinstance(raw, str):
        return raw if isinstance(raw, dict) else None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def canonical_calls(calls: list[tuple[str, Any]], registry: ToolRegistry,
                    bfcl: bool) -> list[tuple[str, Any]]:
    """(canonical name, normalized arguments); unparseable arguments stay None and match nothing."""
    out = []
    for name, raw in calls:
        args = parse_arguments(raw)
        tool = registry.resolve(name)
        canonical = tool.name if tool else name.strip()
        if args is not None:
            args = registry.normalize(canonical, args)[1]
            if bfcl:
                args = _strings(args)
        out.append((canonical, args))
    return out


def ast_match(predicted: list[tuple[str, Any]], gold: list[tuple[str, Any]], registry: ToolRegistry,
              bfcl: bool = True) -> bool:
    pred = canonical_calls(predicted, registry, bfcl)
    if any(args is None for _, args in pred):
        return False
    return calls_match(pred, canonical_calls(gold, registry, bfcl))


def call_scores(predicted: list[tuple[str, str]], gold: list[tuple[str, Any]],
                registry: ToolRegistry) -> dict[str, Any]:
    """Scores of all calls of one item (`predicted` holds raw argument text)."""
    pred_names = [n for n, _ in canonical_calls(predicted, registry, False)]
    gold_names = [n for n, _ in canonical_calls(gold, registry, False)]
    parsed = [parse_arguments(a) for _, a in predicted]
    json_valid = [p is not None for p in parsed]
    schema_valid = [p is not None and not registry.validate(n, p) for (n, _), p in zip(predicted, parsed, strict=True)]
    return {
        "num_calls": len(predicted),
        "num_gold_calls": len(gold),
        "tool_selection_ok": set(pred_names) == set(gold_names) if gold else not predicted,
        "args_ast_ok": bool(gold) and ast_match(predicted, gold, registry, bfcl=True),
        "args_exact_ok": bool(gold) and ast_match(predicted, gold, registry, bfcl=False),
        "json_valid_calls": sum(json_valid),
        "schema_valid_calls": sum(schema_valid),
        "parity_ok": pred_names == gold_names,
        "unknown_tools": sorted({n for n, _ in predicted if registry.resolve(n) is None}),
    }
