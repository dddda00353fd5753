"""Judge pairs: labels follow the arbiter and the documented rules; swaps mirror; splits never share a scenario."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from arbiter.judge import CLAUSES
from training.judge.labels import clauses_of, justified_waiver, specific_rationale, winner
from training.judge.pairs import run


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("judge-pairs")
    run(out, scenarios=60, seed=3)
    return out


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def test_rationale_rules():
    assert specific_rationale("Changes src/auth/login.py to fix the session bug reported against auth.")
    assert not specific_rationale("Changes in src/auth/login.py and its tests.")  # no purpose
    assert not specific_rationale("Reworked the code so that it behaves better.")  # no location
    assert not specific_rationale("Fix src/a.py so that x.")  # too short
    assert justified_waiver("Relies on waiver WV-1234 because the store is shared; mitigation: feature flag.")
    assert not justified_waiver("Waiver WV-1234 applies because we ran out of time.")  # no mitigation
    assert not justified_waiver("Relies on a waiver because it is shared; mitigation: revert.")  # no id


def test_clause_rules_read_the_arbiter_violations():
    import random

    from arbiter.spec import parse_spec
    from training.judge.pairs import NOW
    from training.judge.scenarios import make_scenario

    spec = parse_spec(make_scenario(random.Random(1), 0, NOW).spec).value
    good = "Changes src/auth/login.py to fix the session bug reported against auth today."
    need = {1: 3, 2: 2, 3: 1}[spec.risk_tier]
    assert clauses_of(spec, need, good, set()) == CLAUSES
    assert "EVIDENCE_COMPLETENESS" not in clauses_of(spec, need - 1, good, set())
    over = clauses_of(spec, need, good, {"budget_limit"})
    assert "BUDGET_ADHERENCE" not in over and "WAIVER_JUSTIFICATION" not in over and "GATE_INTEGRITY" in over
    assert "GATE_INTEGRITY" not in clauses_of(spec, need, good, {"lint"})
    assert "PROVENANCE_CLARITY" not in clauses_of(spec, need, good, {"provenance"})
    waived = good + " Relies on waiver WV-1234 because the store is shared; mitigation: feature flag."
    assert "WAIVER_JUSTIFICATION" in clauses_of(spec, need, waived, {"lint"})


def test_pair_format_and_labels_match_the_rendered_plea(pairs_dir: Path):
    for split in ("train", "val", "test"):
        header = json.loads((pairs_dir / f"{split}.jsonl").read_text().splitlines()[0])
        assert header["__header__"] and header["kind"] == "judge_pairs" and header["split"] == split
        for r in rows(pairs_dir / f"{split}.jsonl"):
            assert r["winner"] in ("a", "b", "tie") and r["prompt"].startswith("CAWS working spec")
            for side in (r["a"], r["b"]):
                assert set(side["clauses"]) <= set(CLAUSES)
                assert ("BUDGET_ADHERENCE" in side["clauses"]) == ("budget: within" in side["text"])
                assert ("GATE_INTEGRITY" in side["clauses"]) == ("=fail" not in side["text"])


def test_every_pair_comes_in_both_orders_with_a_mirrored_winner(pairs_dir: Path):
    by_id = {r["id"]: r for r in rows(pairs_dir / "train.jsonl")}
    originals = [r for i, r in by_id.items() if not i.endswith("-swap")]
    assert originals and len(by_id) == 2 * len(originals)
    mirror = {"a": "b", "b": "a", "tie": "tie"}
    for r in originals:
        s = by_id[r["id"] + "-swap"]
        assert (s["a"], s["b"], s["winner"]) == (r["b"], r["a"], mirror[r["winner"]])


def test_splits_share_no_scenario_and_cover_every_tier(pairs_dir: Path):
    seen = {s: {r["scenario"] for r in rows(pairs_dir / f"{s}.jsonl")} for s in ("train", "val", "test")}
    assert not seen["train"] & seen["val"] and not seen["train"] & seen["test"] and not seen["val"] & seen["test"]
    for split in ("val", "test"):
        assert {r["tier"] for r in rows(pairs_dir / f"{split}.jsonl")} == {1, 2, 3}


def test_winners_follow_status_then_quality(pairs_dir: Path):
    all_rows = [r for s in ("train", "val", "test") for r in rows(pairs_dir / f"{s}.jsonl")]
    rank = {"PASS": 0, "WAIVER_REQUIRED": 1, "FAIL": 2}
    for r in all_rows:
        a, b = r["a"], r["b"]
        if rank[a["status"]] != rank[b["status"]]:
            assert r["winner"] == ("a" if rank[a["status"]] < rank[b["status"]] else "b")
        elif a["quality"] == b["quality"]:
            assert r["winner"] == "tie"
    outcomes = Counter((r["axis"], r["winner"]) for r in all_rows if not r["id"].endswith("-swap"))
    defect_axes = ("budget", "scope", "naming", "gate", "evidence")
    assert sum(outcomes[(x, "a")] for x in defect_axes) >= 0.95 * sum(
        n for (x, _), n in outcomes.items() if x in defect_axes)  # the defect loses, bar rare waiver cover


def test_generation_is_deterministic(tmp_path: Path, pairs_dir: Path):
    run(tmp_path, scenarios=60, seed=3)
    for split in ("train", "val", "test"):
        assert (tmp_path / f"{split}.jsonl").read_bytes() == (pairs_dir / f"{split}.jsonl").read_bytes()


def test_winner_rule_on_equal_status():
    from training.judge.labels import Labelled

    a = Labelled("p", "t", "PASS", (), CLAUSES, 1.1)
    b = Labelled("p", "u", "PASS", (), CLAUSES[1:], 0.7)
    assert winner(a, b) == "a" and winner(b, a) == "b" and winner(a, a) == "tie"
    assert winner(Labelled("p", "v", "FAIL", (), CLAUSES, 1.1), b) == "b"
