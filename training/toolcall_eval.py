"""Held-out greedy tool-call accuracy, turn by turn with the gold history as context.

For every assistant turn of a held-out conversation, the model sees the conversation up to that
turn (tool results included) and decodes greedily to `<|end|>`. A turn with gold tool calls scores
tool-name accuracy (the sequence of called names matches) and exact argument match (BFCL-style:
parsed JSON equal, numbers compared by value, parallel calls order-insensitive); a turn without
calls scores whether the model also made none. The final answer of a conversation whose gold answer
integrates tool results (metadata.integration_claims) also scores integration F1: the answer's
claim sentences grounded (lax and strict) in the successful tool results of its context, with the
evaluation harness's claim split and grounding (evaluation.scoring.answers, training.data.grounding).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from evaluation.scoring.answers import integration_scores
from modeling.chat import parse_tool_calls, render_messages
from modeling.generate import generate_batch
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


def tool_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parsed tool results of a conversation (unparseable ones ground nothing)."""
    out = []
    for m in messages:
        if m["role"] == "tool":
            try:
                out.append(json.loads(m["content"]))
            except (json.JSONDecodeError, TypeError):
                continue
    return out


def score_integration(text: str, row: dict[str, Any], index: int) -> dict[str, float]:
    answer, _ = parse_tool_calls(text)
    lang = row.get("metadata", {}).get("lang", "en")
    scores = integration_scores(answer.removesuffix("<|end|>"), tool_results(row["messages"][:index]), lang)
    return {"integration_f1": scores["f1_lax"], "integration_f1_strict": scores["f1_strict"]}


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


EVAL_BATCH = 32  # held-out turns decoded together


def heldout_prompts(tok: KSTokenizer, rows: Iterable[dict[str, Any]], tools: list[dict[str, Any]], max_turns: int,
                    max_new_tokens: int, max_seq_len: int) -> list[tuple[dict[str, Any], int, Any, list[int]]]:
    """(row, turn index, gold calls, prompt ids) of the first `max_turns` assistant turns of `rows`
    whose prompt leaves room for `max_new_tokens` in the context; the gold history is the prompt."""
    items: list[tuple[dict[str, Any], int, Any, list[int]]] = []
    for row in rows:
        for index, gold in turns(row):
            if len(items) >= max_turns:
                return items
            prompt = tok.encode(render_messages(row["messages"][:index], tools, add_generation_prompt=True))
            if len(prompt) + max_new_tokens <= max_seq_len:
                items.append((row, index, gold, prompt))
    return items


def decode_greedy(model: Transformer, prompts: list[list[int]], max_new_tokens: int, end_id: int) -> list[list[int]]:
    """Greedy continuations (the end token included when reached), `EVAL_BATCH` prompts per decode loop."""
    out: list[list[int]] = []
    for b in range(0, len(prompts), EVAL_BATCH):
        for ids, stop in generate_batch(model, prompts[b:b + EVAL_BATCH], max_new_tokens, {end_id}):
            out.append(ids if stop is None else [*ids, stop])
    return out


def evaluate(model: Transformer, tok: KSTokenizer, rows: list[dict[str, Any]], tools: list[dict[str, Any]],
             max_turns: int = 200, max_new_tokens: int = 160) -> dict[str, float]:
    items = heldout_prompts(tok, rows, tools, max_turns, max_new_tokens, model.config.max_seq_len)
    was_training = model.training
    model.eval()
    scores: list[dict[str, Any]] = []
    try:
        outs = decode_greedy(model, [prompt for *_, prompt in items], max_new_tokens, tok.end_id)
        for (row, index, gold, _), ids in zip(items, outs, strict=True):
            text = tok.decode(ids)
            score: dict[str, Any] = score_turn(text, gold)
            if not gold and index == len(row["messages"]) - 1 and row.get("metadata", {}).get(
                    "integration_claims"):
                score.update(score_integration(text, row, index))
            scores.append(score)
    finally:
        model.train(was_training)
    return summarize(scores)


def summarize(scores: list[dict[str, Any]]) -> dict[str, float]:
    calls = [s for s in scores if "name" in s]
    answers = [s for s in scores if "no_call" in s]
    integrated = [s for s in scores if "integration_f1" in s]
    mean = lambda xs: round(sum(xs) / len(xs), 4) if xs else 0.0  # noqa: E731
    return {"tool_name_acc": mean([s["name"] for s in calls]),
            "exact_args_acc": mean([s["args"] for s in calls]),
            "json_valid_rate": mean([s["json_valid"] for s in calls]),
            "no_call_acc": mean([s["no_call"] for s in answers]),
            "integration_f1": mean([s["integration_f1"] for s in integrated]),
            "integration_f1_strict": mean([s["integration_f1_strict"] for s in integrated]),
            "call_turns": len(calls), "answer_turns": len(answers), "integration_turns": len(integrated)}
