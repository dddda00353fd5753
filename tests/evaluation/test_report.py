"""Report arithmetic: speed percentiles, busy time, harness overhead, gate statuses."""

from __future__ import annotations

from evaluation.report import busy_time, gates, speed


def test_busy_time_is_the_union_of_intervals() -> None:
    assert busy_time([(0, 2), (1, 3), (5, 6)]) == 4
    assert busy_time([]) == 0


def test_speed_and_overhead() -> None:
    entries = [{"ttft_s": 0.1, "e2e_s": 1.1, "tokens": 11, "started": 0.0},
               {"ttft_s": 0.3, "e2e_s": 2.3, "tokens": 21, "started": 1.0},
               {"item_s": 3.5, "requests_s": 3.4}]
    s = speed(entries, wall_s=4.0)
    assert (s["requests"], s["completion_tokens"], s["busy_s"]) == (2, 32, 3.3)
    assert s["tpot_s_p50"] == 0.1 and s["ttft_s_p95"] == 0.29 and s["e2e_s_p50"] == 1.7
    assert s["harness_overhead"] == round(1 - 3.4 / 3.5, 4)
    assert s["tokens_per_s"] == round(32 / 3.3, 2)


def test_gates() -> None:
    summary = {"tool_selection_accuracy": 0.95, "json_validity_rate": None, "integration_f1_macro_lax": 0.99,
               "integration_eligible": 3, "fixture_hit_rate": 0.5, "controls_with_integration": 0, "item_errors": 0}
    assert {g["gate"]: g["status"] for g in gates(summary)} == {
        "tool_selection_accuracy": "PASS", "json_validity_rate": "INCONCLUSIVE",
        "integration_f1_macro_lax": "INCONCLUSIVE", "fixture_hit_rate": "FAIL",
        "controls_with_integration": "PASS", "item_errors": "PASS"}
