"""A 5,000-file, 200,000-line diff is counted and adjudicated correctly (its speed is `bench/bench_adjudication.py`)."""

from __future__ import annotations

from arbiter.diffs import parse_diff

from .builders import budget, plea, spec, verdict


def big_diff(files: int = 5_000, lines_per_file: int = 40) -> str:
    """`files` modified files, each exactly `lines_per_file` diff lines (5 header + body)."""
    body = lines_per_file - 5
    removed, added = body // 3, body // 3
    context = body - removed - added
    parts = []
    for i in range(files):
        path = f"src/auth/module_{i // 100}/file_{i}.py"
        hunk = (" ctx\n" * context) + ("-old line\n" * removed) + ("+new line\n" * added)
        parts.append(f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n"
                     f"@@ -1,{context + removed} +1,{context + added} @@\n{hunk}")
    return "".join(parts)


def test_a_5000_file_200000_line_diff_is_counted_and_adjudicated():
    text = big_diff()
    assert text.count("\n") == 200_000
    stats = parse_diff(text).unwrap()
    record = verdict(spec(**budget(5_000, 200_000)), [plea(diff=text)])
    assert stats.file_count == 5_000 and stats.loc == 5_000 * 22
    assert record["status"] == "PASS"
