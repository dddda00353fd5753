"""BFCL-style AST matching, call scores, claim splitting and behaviour checks."""

from __future__ import annotations

import pytest

from evaluation.scoring.answers import behaviour_ok, claim_spans, integration_scores
from evaluation.scoring.calls import ast_match, bfcl_string, call_scores
from training.data.tools import default_registry

REG = default_registry()
GOLD = [("web.search", {"q": "cache eviction", "top_k": 3})]


@pytest.mark.parametrize("predicted, ok", [
    ([("web.search", '{"q":"cache eviction","top_k":3}')], True),
    ([("web.search", '{"q":"cache eviction","top_k":3.0}')], True),  # int -> float by value
    ([("web.search", '{"q":"cache eviction"}')], True),  # optional parameter at its default
    ([("web_search", '{"top_k":3,"q":"Cache-Eviction"}')], True),  # alias, order, BFCL string normalization
    ([("web.search", '{"q":"cache eviction","top_k":true}')], False),  # a boolean is never a number
    ([("web.search", '{"q":"cache eviction","top_k":"3"}')], False),  # a string is not an integer
    ([("web.search", '{"q":"cache eviction","top_k":4}')], False),
    ([("web.search", '{"q":"cache eviction","top_k":3')], False),  # malformed JSON
    ([("web.open", '{"q":"cache eviction","top_k":3}')], False),
    ([], False),
])
def test_ast_match_single(predicted: list, ok: bool) -> None:
    assert ast_match(predicted, GOLD, REG) is ok


def test_parallel_calls_any_order_but_lists_in_order() -> None:
    gold = [("read_file", {"path": "a.py"}), ("web.search", {"q": "x", "exclude": ["a", "b"]})]
    assert ast_match([("web.search", '{"q":"x","exclude":["a","b"]}'), ("read_file", '{"path":"a.py"}')], gold, REG)
    assert not ast_match([("web.search", '{"q":"x","exclude":["b","a"]}'), ("read_file", '{"path":"a.py"}')],
                         gold, REG)
    assert not ast_match([("read_file", '{"path":"a.py"}')], gold, REG)  # a missing call
    assert not ast_match([*[("read_file", '{"path":"a.py"}')] * 2], gold, REG)  # one call twice


def test_exact_match_keeps_strings() -> None:
    assert ast_match([("read_file", '{"path":"SRC/A.py"}')], [("read_file", {"path": "src/a.py"})], REG)
    assert not ast_match([("read_file", '{"path":"SRC/A.py"}')], [("read_file", {"path": "src/a.py"})], REG,
                         bfcl=False)
    assert bfcl_string("It's a-b_c.d/e") == 'it"sabcde'


def test_call_scores_count_invalid_output() -> None:
    scores = call_scores([("web.search", '{"q":"cache eviction"}'), ("nope", "{oops"), ("web.search", '{"q":""}')],
                         GOLD, REG)
    assert scores["num_calls"] == 3 and scores["json_valid_calls"] == 2 and scores["schema_valid_calls"] == 1
    assert scores["unknown_tools"] == ["nope"] and not scores["parity_ok"] and not scores["tool_selection_ok"]
    none = call_scores([], [], REG)
    assert none["tool_selection_ok"] and none["parity_ok"] and not none["args_ast_ok"]


def test_claim_spans_split_sentences_not_numbers_or_paths() -> None:
    text = "src/a.py has 3.5 lines; it defines f. Is that right?\nThe top result is Caching, published 2026-01-02."
    assert claim_spans(text) == ["src/a.py has 3.5 lines;", "it defines f.",
                                 "The top result is Caching, published 2026-01-02."]


def test_integration_uses_only_successful_results() -> None:
    ok = {"ok": True, "path": "src/a.py", "lines": 45}
    assert integration_scores("src/a.py has 45 lines.", [ok], "en")["f1_strict"] == 1.0
    half = integration_scores("src/a.py has 45 lines. The sky is green.", [ok], "en")
    assert half["precision_lax"] == 0.5 and half["recall_lax"] == 1.0
    failed = {"ok": False, "error": "not_found", "path": "src/a.py", "lines": 45}
    assert integration_scores("src/a.py has 45 lines.", [failed], "en")["f1_lax"] == 0.0


@pytest.mark.parametrize("behaviour, answer, calls, results, ok", [
    ("no_tool", "It pins versions.", 0, [], True),
    ("no_tool", "It pins versions.", 1, [], False),
    ("decline", "I won't do that: infra/ is out of scope.", 0, [], True),
    ("decline", "Done, the file is empty now.", 0, [], False),
    ("ask_clarify", "Which file do you mean?", 0, [], True),
    ("ask_clarify", "Here are 100 results.", 0, [], False),
    ("report_failure", "The call failed (permission_denied).", 1, [{"ok": False, "error": "permission_denied"}], True),
    ("report_failure", "It has 12 lines.", 1, [{"ok": False, "error": "permission_denied"}], False),
    ("report_failure", "It failed.", 0, [], False),
    ("retry", "done", 2, [{"ok": False, "error": "timeout"}, {"ok": True, "stdout": "done"}], True),
    ("retry", "done", 1, [{"ok": True, "stdout": "done"}], False),
    ("retry", "done", 2, [{"ok": True}, {"ok": False, "error": "timeout"}], False),
    ("tool_use", "anything", 1, [], None),
])
def test_behaviour(behaviour: str, answer: str, calls: int, results: list, ok: bool | None) -> None:
    assert behaviour_ok(behaviour, answer, calls, results, "en") is ok
