"""Evidence/claim triples for the judge's entailment head (claimify's triage), labelled by construction.

Each triple is an evidence chunk as claimify retrieves it (a manifest sentence or an artifact field of
a CAWS change: tests, coverage, latency, mutation score, build and lint status, diff size) and a
claim about the change, with the label its construction fixes:

- support: the claim restates a value or status the evidence gives (paraphrased, numbers in
  another spelling where they mean the same: 1.2 s = 1200 ms, 82.50% = 82.5%);
- contradict: the claim gives another value for the same measurement, the value of a neighbouring
  measurement (p50 read as p95), the opposite status (passed / failed), or "all pass" over failures;
- insufficient: the claim is about a measurement the evidence does not give (another metric of the
  same change, or the metric named without its value).

Rows: {"id", "evidence", "claim", "label"}; splits 80/10/10 by a stable hash of the id.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modeling.judge import ENTAILMENT_LABELS as LABELS
from training.data.jsonl import DataError, iter_rows, read_header, write_jsonl

ENTAILMENT_VERSION = "judge-entailment/v1"
FILES = {"train": "entail_train.jsonl", "val": "entail_val.jsonl", "test": "entail_test.jsonl"}

Fact = tuple[str, list[str], dict[str, Callable[[random.Random], str]]]


def _pct(x: float) -> str:
    return f"{x:g}%"


def _facts(rng: random.Random) -> list[Fact]:
    """One change's measurements: (metric, evidence phrasings, claim makers by label)."""
    total, failed = rng.randint(20, 900), rng.choice([0, 0, 1, 2, 3, 7])
    passed = total - failed
    cov, mut = round(rng.uniform(40, 99), 1), rng.randint(30, 95)
    p50 = rng.randint(5, 400)
    p95 = p50 + rng.randint(5, 600)
    files, lines = rng.randint(1, 40), rng.randint(5, 2000)
    build_ok, lint = rng.random() < 0.6, rng.choice([0, 0, 2, 5, 13])

    def other(value: int | float, lo: float, hi: float, digits: int = 0) -> int | float:
        while True:
            x = round(rng.uniform(lo, hi), digits) if digits else rng.randint(int(lo), int(hi))
            if x != value:
                return x

    status = "passed" if build_ok else "failed"
    facts: list[Fact] = [
        ("tests", [f"The test suite ran {total} tests: {passed} passed, {failed} failed.",
                   f"tests: {passed} passed, {failed} failed ({total} total)"],
         {"support": lambda r: r.choice([f"{passed} tests pass.", f"{passed} of {total} tests passed.",
                                         f"The suite has {failed} failing tests."]),
          "contradict": lambda r: r.choice([f"{other(passed, 10, 999)} tests pass.",
                                            f"The suite has {other(failed, 0, 9)} failing tests."]
                                           + (["All tests pass."] if failed else []))}),
        ("coverage", [f"Branch coverage on the changed files is {_pct(cov)}.", f"coverage.branch: {_pct(cov)}"],
         {"support": lambda r: r.choice([f"Branch coverage is {_pct(cov)}.", f"Coverage reaches {cov:.2f}%."]),
          "contradict": lambda r: f"Branch coverage is {_pct(other(cov, 40, 99, 1))}."}),
        ("mutation", [f"The mutation score is {mut}%.", f"mutation.score: {mut}%"],
         {"support": lambda r: f"The mutation score is {mut}%.",
          "contradict": lambda r: f"The mutation score is {other(mut, 30, 95)}%."}),
        ("latency", [f"The benchmark measured p50 {p50} ms and p95 {p95} ms.",
                     f"latency: p50 {p50} ms, p95 {p95} ms"],
         {"support": lambda r: r.choice([f"The p95 latency is {p95} ms.", f"The p50 latency is {p50} ms.",
                                         f"The p95 latency is {p95 / 1000:g} s."]),
          "contradict": lambda r: r.choice([f"The p95 latency is {p50} ms.", f"The p50 latency is {p95} ms.",
                                            f"The p95 latency is {other(p95, 10, 999)} ms."])}),
        ("build", [f"The CI build {status} on commit {rng.getrandbits(28):07x}.", f"ci.build: {status}"],
         {"support": lambda r: f"The build {status}.",
          "contradict": lambda r: f"The build {'failed' if build_ok else 'passed'}."}),
        ("lint", [f"Lint reported {lint} errors.", f"lint.errors: {lint}"],
         {"support": lambda r: "Lint is clean." if lint == 0 else f"Lint reports {lint} errors.",
          "contradict": lambda r: f"Lint reports {other(lint, 1, 20)} errors." if lint == 0 else "Lint is clean."}),
        ("diff", [f"The diff touches {files} files and {lines} lines.", f"diff: {files} files, {lines} lines"],
         {"support": lambda r: r.choice([f"The change touches {files} files.", f"The change is {lines} lines."]),
          "contradict": lambda r: r.choice([f"The change touches {other(files, 1, 40)} files.",
                                            f"The change is {other(lines, 5, 2000)} lines."])}),
    ]
    return facts


_UNSTATED = {"tests": "Tests were run on the change.", "coverage": "Coverage was measured on the changed files.",
             "mutation": "Mutation testing ran on the changed module.", "latency": "The benchmark was run.",
             "build": "CI ran on the change.", "lint": "The linter ran.", "diff": "The diff was reviewed."}


def make_triples(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """`count` triples, the three labels in turn, each from a fresh change."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = LABELS[i % 3]
        facts = _facts(rng)
        metric, evidence, claims = rng.choice(facts)
        text = rng.choice(evidence)
        if label == "insufficient":
            about = rng.choice([f for f in facts if f[0] != metric])
            claim = about[2]["support"](rng)
            if rng.random() < 0.3:  # the claim's own metric, named without its value
                text = _UNSTATED[about[0]]
        else:
            claim = claims[label](rng)
        rows.append({"id": f"ent-{seed}-{i:06d}", "evidence": text, "claim": claim, "label": label})
    return rows


def split_of(row_id: str, seed: int) -> str:
    h = int(hashlib.sha256(f"{seed}:{row_id}".encode()).hexdigest()[:8], 16) % 10
    return "train" if h < 8 else "val" if h == 8 else "test"


def write_splits(out_dir: Path, count: int, seed: int = 0) -> dict[str, dict[str, int]]:
    """`<out_dir>/entail_{train,val,test}.jsonl`; returns label counts per split."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in FILES}
    for row in make_triples(count, seed):
        rows[split_of(row["id"], seed)].append(row)
    summary = {}
    for name, items in rows.items():
        header = {"kind": "judge_entailment", "version": ENTAILMENT_VERSION, "seed": seed, "split": name,
                  "total": count, "labels": list(LABELS)}
        write_jsonl(out_dir / FILES[name], header, items)
        summary[name] = dict(Counter(r["label"] for r in items))
    return summary


def read_split(out_dir: Path, name: str) -> list[dict[str, Any]]:
    """Rows of one split, checked: known labels, text fields."""
    path = out_dir / FILES[name]
    header = read_header(path)
    if header.get("version") != ENTAILMENT_VERSION:
        raise DataError(f"{path}: not a {ENTAILMENT_VERSION} file (version {header.get('version')!r})")
    rows = []
    for lineno, row in iter_rows(path):
        if row.get("label") not in LABELS or not all(isinstance(row.get(k), str) for k in ("evidence", "claim")):
            raise DataError(f"{path}:{lineno}: an entailment row needs evidence, claim and a label in {LABELS}")
        rows.append(row)
    return rows
