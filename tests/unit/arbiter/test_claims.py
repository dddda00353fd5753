"""Claimify stages, claim verification (policy gate, c / c_max, outcomes 1-7) and claim metrics."""

from __future__ import annotations

import dataclasses

import pytest

from arbiter.claims import LexicalJudge, Triage, claim_metrics, claimify
from arbiter.claims.disambiguation import ClaimContext, disambiguate
from arbiter.claims.entailment import EntailmentJudge
from arbiter.claims.selection import select
from arbiter.result import Err

from .builders import policy

CLAIMS = policy().claims


def run(text: str, **kwargs):
    return claimify(text, policy=kwargs.pop("claims_policy", CLAIMS), **kwargs).unwrap()


def statements(text: str, **kwargs) -> list[str]:
    return [c["statement"] for c in run(text, **kwargs)["claims"]]


def evidence(*contents: str, artifacts: list | None = None) -> dict:
    items = [{"evidence_id": f"E{i + 1}", "type": "benchmark_result", "content": c, "verification_status": "verified"}
             for i, c in enumerate(contents)]
    return {"manifest_id": "EV-1", "change_id": "FEAT-42-r1", "evidence_items": items, "artifacts": artifacts or []}


BENCH_120 = {"type": "bench_json", "path": "bench.json", "json_path": "perf.latency_ms.p95", "value": 120}
CI_GREEN = {"type": "ci_status", "path": "ci.json"}


def verification(text: str, manifest: dict, **kwargs) -> dict:
    claims = run(text, evidence_manifest=manifest, **kwargs)["claims"]
    assert len(claims) == 1, claims
    return claims[0]["verification"]


@pytest.mark.parametrize("text", ["This is a great design.", "I love how elegant this refactor is.",
                                  "Overall, the change is solid.", "Testing is important.",
                                  "Here is a summary of the change:", "What does the limiter do?",
                                  "I don't know whether the cache helps."])
def test_opinions_generic_statements_and_introductions_yield_no_claims(text):
    result = run(text)
    assert result["claims"] == [] and result["sentences"][0]["selected"] is False


def test_it_was_fixed_then_without_antecedent_yields_no_claims_and_cannot_disambiguate():
    result = run("It was fixed then.")
    assert result["claims"] == []
    sentence = result["sentences"][0]
    assert sentence["selected"] is True
    assert sentence["disambiguation"]["status"] == "cannot_disambiguate"
    assert "no antecedent" in sentence["disambiguation"]["reason"]


def test_it_was_fixed_then_resolves_when_the_context_gives_both_antecedents():
    result = run("It was fixed then.", context={"prior_text": "The login bug appeared on Monday."})
    assert statements("It was fixed then.", context={"prior_text": "The login bug appeared on Monday."}) == [
        "The login bug was fixed on Monday."]
    assert result["sentences"][0]["disambiguation"]["status"] == "resolved"


def test_a_pronoun_with_two_candidate_antecedents_is_not_guessed():
    result = run("The parser and the lexer were slow. It was rewritten in March.")
    assert result["sentences"][1]["disambiguation"]["status"] == "cannot_disambiguate"
    assert [c["source_sentence"] for c in result["claims"]] == ["The parser and the lexer were slow."]


def test_structural_ambiguity_yields_no_claims():
    result = run("The service logs errors and warnings or retries 3 times.")
    assert result["claims"] == [] and result["sentences"][0]["disambiguation"]["reason"].startswith("structural")


def test_this_change_resolves_only_from_context():
    assert statements("This change adds a limiter to src/auth/login.py.") == []
    assert statements("This change adds a limiter to src/auth/login.py.",
                      context={"change": "change FEAT-42"}) == ["Change FEAT-42 adds a limiter to src/auth/login.py."]


def test_a_compound_factual_sentence_yields_one_claim_per_proposition():
    assert statements("Argentina's inflation reached 25.5% and the currency fell.") == [
        "Argentina's inflation reached 25.5%.", "The currency [of Argentina] fell."]
    assert statements("The endpoint returns HTTP 429 and logs the attempt.") == [
        "The endpoint returns HTTP 429.", "The endpoint logs the attempt."]


def test_noun_lists_are_not_split_and_attribution_is_kept():
    assert statements("The parser handles renames and binary files.") == [
        "The parser handles renames and binary files."]
    assert statements("The CI report says that 412 tests passed and lint found 0 errors.") == [
        "The CI report says that 412 tests passed.", "The CI report says that lint found 0 errors."]


def test_mixed_opinion_and_fact_keeps_only_the_fact():
    choice = select("The API is elegant and returns 429 on overload.")
    assert (choice.selected, choice.text) == (True, "The API returns 429 on overload.")


def test_claims_are_numbered_in_reading_order_and_linked_to_their_sentences():
    result = run("The cache cut p95 latency to 120 ms. This is great. The build passed in 4 minutes.")
    assert [(c["id"], c["source_sentence"]) for c in result["claims"]] == [
        ("C1", "The cache cut p95 latency to 120 ms."), ("C2", "The build passed in 4 minutes.")]
    assert [s["claims"] for s in result["sentences"]] == [["C1"], [], ["C2"]]


def test_the_best_latency_is_never_verified_even_with_supporting_evidence():
    text = "The new cache gives the best latency."
    result = verification(text, evidence(text, artifacts=[BENCH_120]))
    assert result["status"] == "INSUFFICIENT_EVIDENCE" and result["outcome_id"] == 6
    assert "SUPERLATIVE" in result["categories"]
    assert result["policy_gate"]["reasons"][0] == "superlative claims are never verified"


def test_p95_is_120_ms_without_a_benchmark_artifact_is_insufficient_evidence():
    result = verification("The p95 latency is 120 ms.", evidence("The p95 latency is 120 ms."))
    assert (result["status"], result["outcome_id"]) == ("INSUFFICIENT_EVIDENCE", 6)
    assert result["categories"] == ["BENCHMARK", "QUANT"]
    assert "BENCHMARK claim needs an artifact of type bench_json" in result["policy_gate"]["reasons"]


def test_a_numeric_claim_needs_an_allow_listed_readable_field():
    hidden = {**BENCH_120, "json_path": "internal.secret_ms"}
    result = verification("The p95 latency is 120 ms.", evidence("p95 latency is 120 ms.", artifacts=[hidden]))
    assert result["status"] == "INSUFFICIENT_EVIDENCE"
    assert result["policy_gate"]["reasons"][0].startswith("numeric claim needs a readable value")


def test_a_benchmark_claim_with_its_artifact_is_verified():
    result = verification("The p95 latency is 120 ms.", evidence("Load test: p95 latency is 120 ms.",
                                                                 artifacts=[BENCH_120]))
    assert (result["status"], result["outcome_id"]) == ("VERIFIED", 1)
    assert result["element_coverage"] >= 0.7 and result["evidence"]["c"][0] in {"E1#0", "artifact[0]"}


def test_contradicting_evidence_wins_over_supporting_evidence():
    manifest = evidence("The p95 latency is 135 ms.", artifacts=[BENCH_120])
    result = verification("The p95 latency is 120 ms.", manifest)
    assert (result["status"], result["outcome_id"]) == ("UNVERIFIED", 5)
    assert result["entailment_triage"]["contradict"] >= 0.55


def test_a_status_claim_is_checked_against_a_status_artifact():
    manifest = {**evidence(), "evidence_items": [{"evidence_id": "T1", "type": "test_result",
                                                   "content": "All 412 tests passed in CI.",
                                                   "verification_status": "verified"}]}
    assert verification("All tests pass.", manifest)["status"] == "INSUFFICIENT_EVIDENCE"
    manifest["artifacts"] = [CI_GREEN]
    assert verification("All tests pass.", manifest)["status"] == "VERIFIED"
    manifest["evidence_items"][0]["content"] = "3 tests failed in CI."
    assert verification("All tests pass.", manifest)["outcome_id"] == 5


def test_no_retrievable_evidence_is_outcome_7():
    result = verification("The endpoint logs every failed attempt.", evidence("Lint is clean on the repository."))
    assert (result["status"], result["outcome_id"]) == ("INSUFFICIENT_EVIDENCE", 7)


def test_c_max_adds_context_and_can_decide_the_outcome():
    manifest = evidence("The endpoint logs every failed attempt for change FEAT-42.")
    result = verification("The endpoint logs every failed attempt.", manifest, context={"change": "FEAT-42"})
    assert result["c_max"] == "The endpoint logs every failed attempt [change: FEAT-42]."
    assert result["outcome_id"] == 2 and result["status"] == "VERIFIED"


def test_a_negation_mismatch_is_never_verified():
    result = verification("The endpoint does not return HTTP 500.", evidence("The endpoint returns HTTP 500."))
    assert result["status"] != "VERIFIED"


class AlwaysSupports:
    name = "always-supports/test"

    def triage(self, evidence_text: str, claim: str) -> Triage:
        return Triage(0.9, 0.0, 0.1)


def test_the_entailment_judge_is_pluggable_and_part_of_the_fingerprint():
    manifest = evidence("Entirely unrelated words about the weather and the endpoint attempt.")
    judge = AlwaysSupports()
    assert isinstance(judge, EntailmentJudge) and isinstance(LexicalJudge(), EntailmentJudge)
    default = run("The endpoint logs every failed attempt.", evidence_manifest=manifest)
    plugged = run("The endpoint logs every failed attempt.", evidence_manifest=manifest, judge=judge)
    assert plugged["claims"][0]["verification"]["outcome_id"] == 1
    assert default["claims"][0]["verification"]["outcome_id"] == 7
    # support alone is not enough: element coverage (2 of 5 content words) stays below 0.70
    assert plugged["claims"][0]["verification"]["status"] == "INSUFFICIENT_EVIDENCE"
    assert plugged["config_fingerprint"] != default["config_fingerprint"]


def test_the_fingerprint_is_stable_and_tracks_the_claims_policy():
    first, again = run("Tests pass."), run("Tests pass.")
    assert first["config_fingerprint"] == again["config_fingerprint"]
    stricter = dataclasses.replace(CLAIMS, coverage_min=0.9)
    assert run("Tests pass.", claims_policy=stricter)["config_fingerprint"] != first["config_fingerprint"]


@pytest.mark.parametrize(("kwargs", "path"), [
    ({"context": {"who": "x"}}, "$.context.who"),
    ({"evidence_manifest": {"manifest_id": "m", "change_id": "c"}}, "$.evidence_manifest.evidence_items"),
])
def test_bad_claimify_input_is_an_error_with_a_path(kwargs, path):
    result = claimify("Tests pass.", policy=CLAIMS, **kwargs)
    assert isinstance(result, Err) and result.errors[0].path == path


def test_lexical_judge_triage_sums_to_one_and_compares_numbers_by_what_they_measure():
    judge = LexicalJudge()
    same = judge.triage("p50 is 80 ms and p95 is 120 ms", "The p95 is 120 ms.")
    other = judge.triage("p50 is 80 ms and p95 is 120 ms", "The p50 is 120 ms.")
    assert same.support >= 0.6 and other.contradict >= 0.55
    assert abs(same.support + same.contradict + same.insufficient - 1) < 1e-3
    assert judge.triage("Coverage is 1.2 s.", "Coverage is 1200 ms.").support >= 0.6


def test_disambiguation_expands_a_defined_acronym_as_context():
    result = disambiguate("TTFT dropped to 80 ms.", ["We measured time to first token (TTFT) on CPU."], ClaimContext())
    assert result.status == "resolved" and result.brackets == ("TTFT: time to first token",)


def test_claim_metrics_precision_recall_f1():
    predicted = ["Argentina's inflation reached 25.5%.", "The currency fell.", "The sky is blue."]
    gold = ["Argentina's inflation reached 25.5%.", "The currency of Argentina fell.", "Prices rose 10%.",
            "Wages fell."]
    metrics = claim_metrics(predicted, gold)
    assert (metrics.matched, metrics.precision, metrics.recall, metrics.f1) == (2, 0.6667, 0.5, 0.5714)
    assert claim_metrics([], []).f1 == 1.0
    assert claim_metrics(["a claim here"], []).precision == 0.0


def test_the_issue_phrase_p95_is_120_ms_without_a_benchmark_artifact():
    result = verification("p95 is 120 ms", evidence("p95 is 120 ms in the load test."))
    assert (result["status"], result["outcome_id"]) == ("INSUFFICIENT_EVIDENCE", 6)


def test_a_participle_fact_is_selected():
    assert select("The limiter is keyed per account.").selected


@pytest.mark.parametrize("text", [".", "", "?!", "  \n\n - \n"])
def test_punctuation_only_text_yields_no_claims(text):
    assert run(text)["claims"] == []


def test_a_negated_do_verb_fact_is_selected():
    assert select("The limiter does not key per IP.").selected
