"""Unit rules of the claimify stages: disambiguation choices, outcome table, entailment edges."""

from __future__ import annotations

import pytest

from arbiter.claims.disambiguation import ClaimContext, disambiguate
from arbiter.claims.entailment import LexicalJudge, Triage, compare_numbers
from arbiter.claims.evidence import Chunk
from arbiter.claims.verification import PairResult, classify, element_coverage, judge_pair

from .builders import policy

NONE = ClaimContext()


def resolved(sentence: str, preceding: list[str], context: ClaimContext = NONE):
    return disambiguate(sentence, preceding, context)


def test_context_references_are_applied_first():
    result = resolved("The flag stays off in prod.", [], ClaimContext(references={"prod": "production (EU region)"}))
    assert (result.status, result.text) == ("resolved", "The flag stays off in production (EU region).")


def test_a_demonstrative_refers_back_to_a_noun_named_just_before():
    result = resolved("This limiter keys on the account.", ["We added a limiter to login."])
    assert (result.status, result.text) == ("resolved", "The limiter keys on the account.")


def test_all_pronouns_of_one_family_take_the_one_antecedent():
    result = resolved("It replaced its cache in March.", ["The parser was slow."])
    assert result.text == "The parser replaced the parser's cache in March."


def test_pronouns_of_different_families_are_not_guessed():
    assert resolved("They replaced it.", ["The parser was slow."]).status == "cannot_disambiguate"


def test_an_expletive_it_is_not_a_reference():
    assert resolved("It is likely that the build passed.", []).status == "no_ambiguity"


def test_two_candidate_times_are_not_guessed():
    result = resolved("The parser was fixed then.", ["It failed on Monday and on Friday."])
    assert result.status == "cannot_disambiguate" and "on Friday or on Monday" in result.reason


def test_a_temporal_reference_without_any_time_before_it_is_not_guessed():
    result = resolved("The parser was fixed then.", ["The parser was slow."])
    assert result.reason == "referential (temporal): 'then' has no antecedent in context"


def test_if_then_is_not_a_temporal_reference():
    assert resolved("If the limit is hit, then the endpoint returns 429.", []).status == "no_ambiguity"


def pair(label: str) -> PairResult:
    return PairResult(label, Triage(0.0, 0.0, 1.0), None)


@pytest.mark.parametrize(("same", "labels", "outcome"), [
    (True, ("support", "support", "support"), 1),
    (False, ("support", "support", "support"), 2),
    (False, ("support", "insufficient", "insufficient"), 3),
    (False, ("insufficient", "support", "insufficient"), 4),
    (False, ("support", "contradict", "support"), 5),
    (True, ("insufficient", "insufficient", "insufficient"), 7),
    (False, ("insufficient", "insufficient", "support"), 6),
])
def test_outcome_table_with_contradiction_first(same, labels, outcome):
    assert classify(same, *(pair(label) for label in labels)) == outcome


def test_an_empty_evidence_set_is_insufficient():
    result = judge_pair([], "claim", LexicalJudge(), policy().claims)
    assert (result.label, result.chunk) == ("insufficient", None)
    assert element_coverage("claim", None, 0.25) == (0.0, False)


def test_a_claimed_number_nothing_states_caps_support_below_the_threshold():
    judge = LexicalJudge()
    triage = judge.triage("The endpoint answers quickly.", "The endpoint answers in 20 ms.")
    assert compare_numbers("The endpoint answers in 20 ms.", "The endpoint answers quickly.") == "unknown"
    assert triage.support <= 0.45
    assert judge.triage("anything", "the of a") == Triage(0.0, 0.0, 1.0)


def test_element_coverage_penalizes_a_negation_mismatch():
    chunk = Chunk("E1", "The endpoint does not log the attempt.", frozenset({"endpoint", "log", "attempt"}))
    coverage, mismatch = element_coverage("The endpoint logs the attempt.", chunk, 0.25)
    assert (coverage, mismatch) == (0.75, True)


@pytest.mark.parametrize(("sentence", "status"), [
    ("The report says that tests passed.", "no_ambiguity"),
    ("That release broke the parser.", "cannot_disambiguate"),
    ("The parser broke in that release.", "cannot_disambiguate"),
])
def test_that_is_a_reference_only_as_a_demonstrative(sentence, status):
    assert resolved(sentence, []).status == status


@pytest.mark.parametrize("sentence", ["This is the fastest limiter we shipped.", "This keeps shared IPs usable."])
def test_a_demonstrative_pronoun_is_never_guessed(sentence):
    result = resolved(sentence, ["The limiter is keyed per account."])
    assert result.status == "cannot_disambiguate" and "earlier statement" in result.reason


def test_a_pronoun_after_a_sentence_with_two_subjects_is_not_guessed():
    result = resolved("It also cut database load by 30%.", ["The p95 latency stayed at 42 ms and all tests pass."])
    assert result.status == "cannot_disambiguate"
    assert "'The p95 latency' or 'All tests'" in result.reason


def test_a_demonstrative_noun_named_just_before_refers_back():
    assert resolved("These tests pass.", ["We added tests."]).text == "The tests pass."


def test_trailing_adverbs_are_not_part_of_the_antecedent():
    assert resolved("It was replaced.", ["The old limiter also failed."]).text == "The old limiter was replaced."


@pytest.mark.parametrize(("claim", "evidence_text", "verdict"), [
    ("All 214 auth tests pass.", "CI run 881: 214 auth tests passed, 0 failed.", "match"),
    ("All 215 auth tests pass.", "CI run 881: 214 auth tests passed, 0 failed.", "mismatch"),
    ("Inflation reached 25.5%.", "Inflation reached 25.52%.", "match"),
    ("Inflation reached 25.5%.", "Inflation reached 25.6%.", "mismatch"),
    ("The build takes 1.2 s.", "The build takes 1234 ms.", "match"),
    ("The p50 is 120 ms.", "p50 is 80 ms and p95 is 120 ms", "mismatch"),
    ("The endpoint answers in 20 ms.", "The endpoint answers quickly.", "unknown"),
    ("The endpoint answers quickly.", "It answers in 20 ms.", "none"),
])
def test_numbers_compare_by_what_they_count_at_the_claims_precision(claim, evidence_text, verdict):
    assert compare_numbers(claim, evidence_text) == verdict
