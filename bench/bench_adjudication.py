"""Adjudication throughput: parse + examine + decide a large diff (5,000 files, 200,000 lines).

Usage: python bench/bench_adjudication.py [--files 5000] [--lines-per-file 40] [--repeat 5]
Prints one JSON line with the best and median wall time in seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time

from arbiter.loaders import read_policy
from arbiter.pleas import Plea
from arbiter.spec import parse_spec
from arbiter.verdict import adjudicate

NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)


def big_diff(files: int, lines_per_file: int) -> str:
    body = lines_per_file - 5
    third = body // 3
    context = body - 2 * third
    hunk = " ctx\n" * context + "-old\n" * third + "+new\n" * third
    return "".join(f"diff --git a/src/m{i // 100}/f{i}.py b/src/m{i // 100}/f{i}.py\nindex 1..2 100644\n"
                   f"--- a/src/m{i // 100}/f{i}.py\n+++ b/src/m{i // 100}/f{i}.py\n"
                   f"@@ -1,{context + third} +1,{context + third} @@\n{hunk}" for i in range(files))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5_000)
    parser.add_argument("--lines-per-file", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    text = big_diff(args.files, args.lines_per_file)
    spec = parse_spec({
        "id": "BENCH-1", "title": "Adjudication benchmark", "risk_tier": 3, "mode": "refactor",
        "change_budget": {"max_files": args.files, "max_loc": 10 * args.files * args.lines_per_file},
        "blast_radius": {"modules": ["src"], "data_migration": False}, "operational_rollback_slo": "1h",
        "scope": {"in": ["src"], "out": []}, "invariants": ["none"],
        "acceptance": [{"id": "A1", "given": "g", "when": "w", "then": "t"}], "non_functional": {},
        "contracts": []}).unwrap()
    policy = read_policy().unwrap()
    manifest = {"manifest_id": "m", "change_id": "BENCH-1", "evidence_items": [
        {"evidence_id": "e", "type": "test_result", "content": "ok", "verification_status": "verified"}]}
    plea = Plea("bench", text, "Bench rationale.", manifest, {"tests_pass": True, "coverage_branch": 0.9,
                                                             "mutation_score": 0.9})
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        record = adjudicate(spec, [plea], change_id="BENCH-1", now=NOW, policy=policy).unwrap()
        times.append(time.perf_counter() - started)
    print(json.dumps({"files": args.files, "diff_lines": text.count("\n"), "status": record["status"],
                      "best_s": round(min(times), 4), "median_s": round(statistics.median(times), 4)}))


if __name__ == "__main__":
    main()
