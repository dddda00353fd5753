"""The evaluation run: items -> multi-turn loop (concurrently) -> scores -> results JSONL and report.

Results keep the input order whatever the concurrency, and hold no timings, so a temperature-0 run
with a fixed seed writes byte-identical results. An item whose turns the runner cannot get
(endpoint down after retries, protocol error) is recorded with its error and counted, never fatal.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from evaluation.broker import ToolBroker
from evaluation.dataset import EvalItem, load_items, tools_for
from evaluation.html import render_html
from evaluation.loop import run_item
from evaluation.report import build_report
from evaluation.runners.base import Decoding, Runner, RunnerError
from evaluation.scoring.item import error_record, score_item
from modeling.checkpoint import sha256_file
from training.data.jsonl import atomic_writer, dumps
from training.data.tools import ToolRegistry


@dataclass
class EvalConfig:
    input: Path
    out: Path
    report: Path
    fixtures: Path
    html: Path | None = None
    tools: str = "all"
    split: str = "all"
    num_shards: int = 1
    shard_index: int = 0
    limit: int | None = None
    max_turns: int = 6
    concurrency: int = 1
    decoding: Decoding = field(default_factory=Decoding)
    describe: dict[str, Any] = field(default_factory=dict)  # runner, model, base URL: for the report header


def _evaluate(item: EvalItem, runner: Runner, broker: ToolBroker, tools: list[dict[str, Any]],
              cfg: EvalConfig, registry: ToolRegistry) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(record, timings): one timing per request, then one for the item as a whole (`item_s`)."""
    started = time.perf_counter()
    try:
        transcript = run_item(item, runner, broker, tools, cfg.decoding, cfg.max_turns)
    except RunnerError as exc:
        return error_record(item, str(exc)), []
    record = score_item(item, transcript, registry)
    timings = [{"ttft_s": t.ttft_s, "e2e_s": t.e2e_s, "tokens": t.completion_tokens, "started": t.started}
               for t in transcript.turns]
    item_s = time.perf_counter() - started
    return record, [*timings, {"item_s": item_s, "requests_s": sum(t.e2e_s for t in transcript.turns)}]


def run(cfg: EvalConfig, runner: Runner, registry: ToolRegistry, progress: bool = False) -> dict[str, Any]:
    header, items = load_items(cfg.input, split=cfg.split, num_shards=cfg.num_shards,
                               shard_index=cfg.shard_index, limit=cfg.limit)
    broker = ToolBroker.load(cfg.fixtures, registry)
    tools = tools_for(cfg.tools, header, registry)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, cfg.concurrency)) as pool:
        jobs = pool.map(lambda it: _evaluate(it, runner, broker, tools, cfg, registry), items)
        done = list(tqdm(jobs, total=len(items), desc="eval", unit="item", disable=not progress))
    wall = time.perf_counter() - started
    records = [r for r, _ in done]
    timings = [t for _, ts in done for t in ts]
    with atomic_writer(cfg.out) as f:
        for record in records:
            f.write(dumps(record) + "\n")
    report = build_report(records, timings, wall, {
        **cfg.describe, "input": str(cfg.input), "dataset_sha256": sha256_file(cfg.input),
        "tool_registry_sha256": registry.sha256, "fixtures": len(broker), "tools": cfg.tools, "split": cfg.split,
        "num_shards": cfg.num_shards, "shard_index": cfg.shard_index, "items": len(items),
        "max_turns": cfg.max_turns, "concurrency": cfg.concurrency, **asdict(cfg.decoding)})
    with atomic_writer(cfg.report) as f:
        f.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if cfg.html is not None:
        with atomic_writer(cfg.html) as f:
            f.write(render_html(report, [t["e2e_s"] for t in timings if "e2e_s" in t]))
    return report
