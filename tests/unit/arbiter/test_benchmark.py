"""Performance budget: examining a 5,000-file, 200,000-line diff takes at most 1 s."""

from __future__ import annotations

import time

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


def test_examining_5000_files_and_200000_lines_takes_at_most_one_second():
    text = big_diff()
    assert text.count("\n") == 200_000
    started = time.perf_counter()
    stats = parse_diff(text).unwrap()
    record = verdict(spec(**budget(5_000, 200_000)), [plea(diff=text)])
    elapsed = time.perf_counter() - started
    assert stats.file_count == 5_000 and stats.loc == 5_000 * 22
    assert record["status"] == "PASS"
    assert elapsed <= 1.0, f"took {elapsed:.2f} s"
