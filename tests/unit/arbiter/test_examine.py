"""Budget, scope and naming gates (CONTRACTS 2.2 and 2.3), through the full decision."""

from __future__ import annotations

import pytest

from arbiter.diffs import parse_diff
from arbiter.examine import check_budget, is_shadow_name, is_under, out_of_scope

from .builders import budget, diff, gates_of, plea, spec, verdict


def test_a_diff_exactly_at_max_files_and_max_loc_passes():
    record = verdict(spec(**budget(2, 10)), [plea(diff=diff(["src/auth/a.py", "src/auth/b.py"], lines=5))])
    assert record["status"] == "PASS"
    assert record["caws_compliance"]["budget_adherence"] == {
        "max_files": 2, "max_loc": 10, "actual_files": 2, "actual_loc": 10, "within_budget": True}


def test_one_file_over_max_files_fails_the_budget_with_both_numbers():
    record = verdict(spec(**budget(2, 100)), [plea(diff=diff(["src/auth/a.py", "src/auth/b.py", "src/auth/c.py"]))])
    assert gates_of(record) == ["budget_limit"]
    message = record["violations"][0]["message"]
    assert "3 files > max_files 2" in message
    assert record["status"] == "WAIVER_REQUIRED"
    assert record["caws_compliance"]["budget_adherence"]["within_budget"] is False


def test_one_line_over_max_loc_fails_the_budget_with_both_numbers():
    record = verdict(spec(**budget(5, 9)), [plea(diff=diff(["src/auth/a.py", "src/auth/b.py"], lines=5))])
    assert gates_of(record) == ["budget_limit"]
    assert "10 LOC > max_loc 9" in record["violations"][0]["message"]


def test_budget_message_cites_files_and_loc_when_both_are_over():
    finding = check_budget(parse_diff(diff(["a", "b"], lines=3)).unwrap(), 1, 5)
    assert finding.message == "change exceeds the budget: 2 files > max_files 1; 6 LOC > max_loc 5"


@pytest.mark.parametrize(("path", "entry", "under"), [
    ("src/auth/x.py", "src/auth", True),
    ("src/auth/x.py", "src/auth/", True),
    ("src/auth/x.py", "./src/auth", True),
    ("src/auth", "src/auth", True),
    ("src/auth2/x", "src/auth", False),
    ("src/authx.py", "src/auth", False),
    ("lib/src/auth/x", "src/auth", False),
    ("anything/at/all", ".", True),
])
def test_scope_prefix_matches_on_path_segment_boundaries(path, entry, under):
    assert is_under(path, entry) is under


def test_src_auth2_is_outside_scope_src_auth():
    record = verdict(spec(scope={"in": ["src/auth"], "out": []}), [plea(diff=diff(["src/auth2/x.py"]))])
    assert gates_of(record) == ["scope_boundary"]
    assert "src/auth2/x.py (under no scope.in entry)" in record["violations"][0]["message"]


def test_scope_out_beats_scope_in():
    problems = out_of_scope(["src/auth/secrets/keys.py"], ["src/auth"], ["src/auth/secrets"])
    assert problems == ["src/auth/secrets/keys.py (under scope.out 'src/auth/secrets')"]
    record = verdict(spec(), [plea(diff=diff(["src/auth/secrets/keys.py"]))])
    assert gates_of(record) == ["scope_boundary"] and record["status"] == "WAIVER_REQUIRED"


def test_renaming_a_file_out_of_an_excluded_directory_touches_it():
    text = ("diff --git a/src/auth/secrets/k.py b/src/auth/k.py\nsimilarity index 100%\n"
            "rename from src/auth/secrets/k.py\nrename to src/auth/k.py\n")
    assert gates_of(verdict(spec(), [plea(diff=text)])) == ["scope_boundary"]


@pytest.mark.parametrize("name", [
    "src/auth/login-copy.py", "src/auth/login_copy.py", "src/auth/login-final.ts", "src/auth/login_final.py",
    "src/auth/login-v2.py", "src/auth/login_v2.py", "src/auth/new-login.py", "src/auth/enhanced-login.py",
    "src/auth/copy-of-login.py", "src/auth/Login-Copy.PY", "src/auth/Makefile-copy",
])
def test_shadow_names_trigger_naming(name):
    assert is_shadow_name(name)
    record = verdict(spec(), [plea(diff=diff([name]))])
    assert gates_of(record) == ["naming"] and record["status"] == "WAIVER_REQUIRED"
    assert name in record["violations"][0]["message"]


@pytest.mark.parametrize("name", ["src/auth/copyright.py", "src/auth/final_report.py", "src/auth/news-feed.py",
                                  "src/auth/v2.py", "src/auth/renew-token.py", "src/auth/login.py"])
def test_ordinary_names_do_not_trigger_naming(name):
    assert not is_shadow_name(name)


def test_deleting_a_shadow_copy_is_not_a_naming_violation():
    text = "--- a/src/auth/login-copy.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    assert gates_of(verdict(spec(), [plea(diff=text)])) == []
