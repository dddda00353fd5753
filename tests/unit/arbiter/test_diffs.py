"""Unified diff accounting (CONTRACTS 2.2): files, LOC, touched paths, odd formats, bad input."""

from __future__ import annotations

import pytest

from arbiter.diffs import parse_diff
from arbiter.result import Err

from .builders import added_file


def stats(text: str):
    return parse_diff(text).unwrap()


MODIFY = """diff --git a/src/auth/a.py b/src/auth/a.py
index 83db48f..bf269f4 100644
--- a/src/auth/a.py
+++ b/src/auth/a.py
@@ -1,4 +1,4 @@
 keep
--- a removed line that looks like a header
+++ an added line that looks like a header
 keep
-old
+new
"""


def test_loc_is_added_plus_removed_and_header_lookalikes_in_hunks_count():
    s = stats(MODIFY)
    assert (s.file_count, s.added, s.removed, s.loc) == (1, 2, 2, 4)
    assert s.files[0].status == "modified"


def test_rename_counts_once_under_its_new_path_and_touches_both():
    text = ("diff --git a/src/old.py b/src/new.py\nsimilarity index 90%\nrename from src/old.py\n"
            "rename to src/new.py\n--- a/src/old.py\n+++ b/src/new.py\n@@ -1 +1 @@\n-a\n+b\n")
    s = stats(text)
    assert [f.path for f in s.files] == ["src/new.py"]
    assert s.files[0].old_path == "src/old.py" and s.files[0].status == "renamed"
    assert s.touched_paths == ("src/new.py", "src/old.py")
    assert s.loc == 2


def test_pure_rename_without_hunks_is_one_file_and_zero_loc():
    s = stats("diff --git a/x.py b/y.py\nsimilarity index 100%\nrename from x.py\nrename to y.py\n")
    assert (s.file_count, s.loc, s.files[0].path) == (1, 0, "y.py")


def test_dev_null_add_and_delete():
    add = added_file("src/new.py", 3)
    delete = "diff --git a/src/gone.py b/src/gone.py\ndeleted file mode 100644\n--- a/src/gone.py\n+++ /dev/null\n" \
             "@@ -1,2 +0,0 @@\n-a\n-b\n"
    s = stats(add + delete)
    assert {f.path: f.status for f in s.files} == {"src/new.py": "added", "src/gone.py": "deleted"}
    assert (s.added, s.removed) == (3, 2)
    assert s.present_paths == ("src/new.py",)


def test_binary_files_count_as_files_with_no_loc():
    text = ("diff --git a/img.png b/img.png\nnew file mode 100644\nindex 0000000..1111111\n"
            "Binary files /dev/null and b/img.png differ\n"
            "diff --git a/blob.bin b/blob.bin\nindex 1..2 100644\nGIT binary patch\nliteral 12\n"
            "zcmZ?wbhEHbRA5kGU|?Vbf&d2~\n\nliteral 0\nHcmV?d00001\n\n")
    s = stats(text)
    assert [(f.path, f.binary) for f in s.files] == [("blob.bin", True), ("img.png", True)]
    assert s.loc == 0


def test_no_newline_marker_is_not_counted():
    text = "--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n"
    assert stats(text).loc == 2


def test_crlf_line_endings_give_the_same_counts():
    assert stats(MODIFY.replace("\n", "\r\n")) == stats(MODIFY)


def test_mode_only_change_is_one_file():
    s = stats("diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n")
    assert (s.file_count, s.loc) == (1, 0)


def test_quoted_paths_are_unquoted():
    text = ('diff --git "a/caf\\303\\251 menu.txt" "b/caf\\303\\251 menu.txt"\nnew file mode 100644\n'
            '--- /dev/null\n+++ "b/caf\\303\\251 menu.txt"\n@@ -0,0 +1 @@\n+x\n')
    assert stats(text).files[0].path == "café menu.txt"


def test_plain_unified_diff_with_timestamps_and_preamble():
    text = ("Only in a: junk\n--- src/a.py\t2026-11-25 10:00:00\n+++ src/a.py\t2026-11-25 11:00:00\n"
            "@@ -1,2 +1,4 @@\n x\n+y\n+z\n x2\n")
    s = stats(text)
    assert ([f.path for f in s.files], s.loc) == (["src/a.py"], 2)


def test_format_patch_mail_headers_and_signature_are_ignored():
    text = ("From 1234 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] fix\n\n- a bullet in the message\n---\n"
            + added_file("src/a.py", 2) + "-- \n2.43.0\n")
    assert stats(text).loc == 2


def test_same_path_twice_counts_as_one_file_with_summed_lines():
    s = stats(added_file("src/a.py", 2) + "--- a/src/a.py\n+++ b/src/a.py\n@@ -1 +1 @@\n-x\n+y\n")
    assert (s.file_count, s.loc) == (1, 4)


def test_empty_text_is_an_empty_diff():
    s = stats("  \n")
    assert (s.file_count, s.loc, s.touched_paths) == (0, 0, ())


@pytest.mark.parametrize(("text", "rule", "path"), [
    ("hello\nthis is prose, not a diff\n", "diff.not_a_diff", "line 1"),
    ("--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n", "diff.truncated_hunk", "line 3"),
    ("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n+c\n", "diff.hunk_count", "line 6"),
    ("--- a/x\n+++ b/x\n@@ bogus @@\n", "diff.hunk_header", "line 3"),
    ("@@ -1 +1 @@\n-a\n+b\n", "diff.orphan_hunk", "line 1"),
    ("--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\nstray\n", "diff.truncated_hunk", "line 5"),
])
def test_corrupt_or_non_diff_text_is_an_error_with_a_line(text, rule, path):
    result = parse_diff(text)
    assert isinstance(result, Err)
    assert (result.errors[0].rule, result.errors[0].path) == (rule, path)


def test_non_text_is_an_error():
    assert isinstance(parse_diff(b"--- a\n"), Err)


def test_blank_lines_between_and_after_files_are_allowed():
    text = added_file("src/a.py", 1) + "\n" + added_file("src/b.py", 2) + "\n\n"
    assert (stats(text).file_count, stats(text).loc) == (2, 3)


def test_a_deletion_header_followed_by_a_rename_line_names_the_new_path():
    text = "diff --git a/x b/x\n--- /dev/null\n+++ /dev/null\nrename to y\n"
    assert [f.path for f in stats(text).files] == ["y"]


def test_a_removed_line_in_a_hunk_with_no_old_lines_is_an_error():
    result = parse_diff("--- a/x\n+++ b/x\n@@ -0,0 +1,2 @@\n-a\n")
    assert isinstance(result, Err) and result.errors[0].rule == "diff.hunk_count"
