"""Held-out greedy tool-call accuracy, turn by turn with the gold history as context.

For every assistant turn of a held-out conversation, the model sees the conversation up to that
turn (tool results included) and decodes greedily to `<|end|>`. A turn with gold tool calls scores
tool-name accuracy (the sequence of called names matches) and exact argument match (BFCL-style:
parsed JSON equal, numbers compared by value, parallel calls order-insensitive); a turn without
calls scores whether the model also made none.
"""

from __future__ import annotations

import json
from typing import Any

from modeling.chat import parse_tool_calls, render_messages
from modeling.generate import greedy
from modeling.model import Transformer
from modeling.tokenizer import KSTokenizer


def values_equal(a: Any, b: Any) -> bool:
    """JSON equality with BFCL's coercions: numbers by value (1 == 1.0), booleans never numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def calls_match(predicted: list[tuple[str, Any]], gold: list[tuple[str, Any]]) -> bool:
    """Same calls, in any order (parallel calls); list order inside arguments still matters."""
    remaining = list(gold)
    for name, args in predicted:
        hit = next((g for g in remaining if g[0] == name and values_equal(args, g[1])), None)
        if hit is None:
            return False
        remaining.remove(hit)
    return not remaining


def _gold_calls(message: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message.get("tool_calls") or ()]


def turns(row: dict[str, Any]) -> list[tuple[int, list[tuple[str, Any]]]]:
    """(index of the assistant message, its gold calls) for every assistant turn."""
    return [(i, _gold_calls(m)) for i, m in enumerate(row["messages"]) if m["role"] == "assistant"]


def score_turn(text: str, gold: list[tuple[str, Any]]) -> dict[str, bool]:
    _, raw = parse_tool_calls(text)
    parsed, valid = [], True
    for name, args in raw:
        try:
            parsed.append((name.strip(), json.loads(args)))
        except json.JSONDecodeError:
            valid = False
            parsed.append((name.strip(), None))
    if not gold:
        return {"no_call": not raw}
    names_ok = [n for n, _ in parsed] == [n for n, _ in gold] or sorted(n for n, _ in parsed) == sorted(
        n for n, _ in gold)
    return {"name": names_ok, "args": valid and names_ok and calls_match(parsed, gold),
            "json_valid": valid and bool(raw)}


def evaluate(model: Transformer, tok: KSTokenizer, rows: list[dict[str, Any]], tools: list[dict[str, Any]],
             max_turns: int = 200, max_new_tokens: int = 160) -> dict[str, float]:
    was_training = model.training
    model.eval()
    scores: list[dict[str, bool]] = []
    try:
        for row in rows:
            for index, gold in turns(row):
                if len(scores) >= max_turns:
                    break
                prompt = tok.encode(render_messages(row["messages"][:index], tools, add_generation_prompt=True))
                if len(prompt) + max_new_tokens > model.config.max_seq_len:
                    continue
                out = greedy(model, prompt, max_new_tokens, {tok.end_id})
                scores.append(score_turn(tok.decode(out), gold))
    finally:
        model.train(was_training)
    return summarize(scores)


def summarize(scores: list[dict[str, bool]]) -> dict[str, float]:
    calls = [s for s in scores if "name" in s]
    answers = [s for s in scores if "no_call" in s]
    mean = lambda xs: round(sum(xs) / len(xs), 4) if xs else 0.0  # noqa: E731
    return {"tool_name_acc": mean([s["name"] for s in calls]),
            "exact_args_acc": mean([s["args"] for s in calls]),
            "json_valid_rate": mean([s["json_valid"] for s in calls]),
            "no_call_acc": mean([s["no_call"] for s in answers]),
            "call_turns": len(calls), "answer_turns": len(answers)}
