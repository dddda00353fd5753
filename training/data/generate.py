"""The contextual tool-use generator: a global plan, deterministic samples, real sharding, fixtures.

`build_plan(total, seed)` lays out one global sample space: which index is a control, an
adversarial item, a long-context item, a negative control or a normal item, and which
(scenario, complexity, structure) cell and language each normal item gets. Sample `i` is a pure
function of (seed, world_seed, plan[i]); a shard keeps the indices whose id hashes to it. So shards
are disjoint, their union is the unsharded run, and a sample is byte-identical either way.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from kimi_student import __version__
from modeling.chat import render_sample
from training.data import scenarios, special
from training.data.episode import Episode
from training.data.fixtures import FixtureSet
from training.data.jsonl import write_jsonl
from training.data.text import clean
from training.data.tools import ToolRegistry, default_registry
from training.data.world import MODULES, World, stable_rng

DATASET_VERSION = "2.0.0"
SHARES = {"control": 0.10, "adversarial": 0.03, "long_context": 0.03, "negative_control": 0.03}
MULTILINGUAL_SHARE = 0.075
PII_SHARE = 0.03  # normal prompts that carry contact details, which the pipeline must redact


@dataclass(frozen=True)
class Slot:
    index: int
    kind: str  # normal | control | adversarial | long_context | negative_control
    subkind: str | None = None
    scenario: str | None = None
    complexity: str | None = None
    structure: str | None = None
    lang: str = "en"
    locale_probe: bool = False


def cells() -> list[tuple[str, str, str]]:
    return [(s, c, st) for s in scenarios.SCENARIOS for c in scenarios.CELL_COMPLEXITIES[s]
            for st in scenarios.STRUCTURES]


def quotas(total: int) -> dict[str, int]:
    if total < 1:
        raise ValueError(f"--total must be at least 1, got {total}")
    q = {k: round(share * total) for k, share in SHARES.items()}
    if total >= 20:  # every special kind is represented, adversarial by all three types
        q["adversarial"] = max(q["adversarial"], len(special.ADVERSARIAL_KINDS))
        q["control"] = max(q["control"], len(special.CONTROL_KINDS))
        q["long_context"] = max(q["long_context"], 1)
        q["negative_control"] = max(q["negative_control"], 1)
    q["normal"] = total - sum(q.values())
    return q


def build_plan(total: int, seed: int) -> list[Slot]:
    rng = stable_rng(seed, "plan")
    q = quotas(total)
    kinds = [k for k, n in q.items() for _ in range(n)]
    rng.shuffle(kinds)
    grid = cells()
    rng.shuffle(grid)
    n_ml = round(MULTILINGUAL_SHARE * total)
    normal_idx = [i for i, k in enumerate(kinds) if k == "normal"]
    ml = set(rng.sample(normal_idx, min(n_ml, len(normal_idx))))
    probes = set(sorted(ml)[: max(2, n_ml // 3)]) if ml else set()
    counters = {"control": 0, "adversarial": 0}
    plan, n_normal = [], 0
    for i, kind in enumerate(kinds):
        if kind == "normal":
            s, c, st = grid[n_normal % len(grid)]
            n_normal += 1
            if i in probes:  # locale probes need numbers to format: large sums, decimal quotients
                s, c, st = "code_exec", "single_call", ("flat_args", "numeric_ranges")[len(plan) % 2]
            lang = rng.choice(["es", "de", "fr"]) if i in ml else "en"
            plan.append(Slot(i, kind, None, s, c, st, lang, i in probes))
        elif kind in counters:
            names = special.CONTROL_KINDS if kind == "control" else special.ADVERSARIAL_KINDS
            plan.append(Slot(i, kind, names[counters[kind] % len(names)]))
            counters[kind] += 1
        else:
            plan.append(Slot(i, kind))
    return plan


def sample_id(seed: int, index: int) -> str:
    return f"ctx-{seed}-{index:06d}"


def shard_of(sid: str, num_shards: int) -> int:
    """Stable shard assignment by hash of the sample id."""
    return int(hashlib.sha256(sid.encode()).hexdigest()[:12], 16) % num_shards


def caws_header(rng: random.Random, modules: list[str]) -> dict[str, Any]:
    """The compact CAWS header: the change's scope covers the modules the task works in."""
    tier = rng.choice([1, 2, 3])
    cov, mut = {1: (90, 70), 2: (80, 50), 3: (70, 30)}[tier]
    return {"tier": tier, "max_files": rng.choice([3, 5, 10, 25]), "max_loc": rng.choice([100, 300, 1000]),
            "cov": cov, "mut": mut, "in": [*(f"src/{m}" for m in modules), "notes", "reports"],
            "out": ["infra", "secrets"]}


def _touched_modules(ep: Episode) -> list[str]:
    paths = [c.arguments.get("path", "") for c in ep.calls]
    return sorted({p.split("/")[1] for p in paths if p.startswith("src/") and p.count("/") >= 2})


def _run_episode(ep: Episode, slot: Slot) -> str:
    """Fill the episode; returns the expected behaviour."""
    if slot.kind == "normal":
        scenarios.BUILDERS[slot.scenario](ep, slot.structure, slot.complexity)
        return "tool_use"
    if slot.kind == "control":
        special.control(ep, slot.subkind)
        return slot.subkind
    if slot.kind == "adversarial":
        special.adversarial(ep, slot.subkind)
        return "ask_clarify"
    if slot.kind == "negative_control":
        special.negative_control(ep)
        return "report_failure"
    special.long_context(ep)
    return "tool_use"


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf fields of a JSON value as {"a/b/0": value}."""
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list):
        items = enumerate(obj)
    else:
        return {prefix: obj}
    out: dict[str, Any] = {}
    for k, v in items:
        out.update(flatten(v, f"{prefix}/{k}" if prefix else str(k)))
    return out


def build_sample(slot: Slot, seed: int, world: World, tools: list[dict[str, Any]]) -> dict[str, Any]:
    sid = sample_id(seed, slot.index)
    rng = stable_rng(seed, "sample", slot.index)
    ep = Episode(world, rng, slot.lang, slot.locale_probe)
    behaviour = _run_episode(ep, slot)
    if slot.kind == "normal" and rng.random() < PII_SHARE:
        ep.task += f" (contact: {rng.choice(MODULES)}.owner@corp-mail.io, +1 415-555-{rng.randint(1000, 9999)})"
    header = caws_header(rng, _touched_modules(ep) or [rng.choice(MODULES)])
    system = json.dumps({"caws": header}, separators=(",", ":")) + "\n" + ep.say("system")
    messages = ep.to_messages(system, call_id_prefix=f"call_{slot.index}")
    for m in messages:
        if isinstance(m.get("content"), str):
            m["content"] = clean(m["content"])
    prompt_text, teacher_text = render_sample(messages, tools)
    fields = {f"{i}/{k}": v for i, c in enumerate(ep.calls) for k, v in flatten(c.result).items()
              if not isinstance(v, str) or len(v) <= 200}
    metadata = {
        "sample_id": sid, "kind": slot.kind, "scenario": slot.scenario or slot.kind,
        "complexity": slot.complexity or "none", "structure": slot.structure or "none",
        "expected_behaviour": behaviour, "lang": slot.lang, "locale_probe": slot.locale_probe,
        "long_context": slot.kind == "long_context", "negative_control": slot.kind == "negative_control",
        "adversarial": {"type": slot.subkind, "expected": "ask_clarify"} if slot.kind == "adversarial" else None,
        "caws": header,
        "call_sequence": [{"name": c.name, "arguments": c.arguments} for c in ep.calls],
        "attempts": ep.attempts(),
        "integration_claims": [clean(c) for c in ep.claims],
        "tool_result_fields": fields,
        "text_norm": "NFC", "line_endings": "LF",
        "provenance": {"seed": seed, "index": slot.index, "world_seed": world.seed,
                       "dataset_version": DATASET_VERSION},
    }
    return {"id": sid, "messages": messages, "prompt_text": prompt_text, "teacher_text": teacher_text,
            "metadata": metadata}


def generate(total: int, seed: int, num_shards: int = 1, shard_index: int = 0, world_seed: int = 0,
             registry: ToolRegistry | None = None, progress: bool = False) -> Iterator[dict[str, Any]]:
    """The samples of one shard, in index order."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"--shard-index must be in [0, {num_shards}), got {shard_index}")
    registry = registry or default_registry()
    world, tools = World(world_seed, registry), registry.openai_tools()
    plan = [s for s in build_plan(total, seed) if shard_of(sample_id(seed, s.index), num_shards) == shard_index]
    for slot in tqdm(plan, desc=f"gen shard {shard_index}/{num_shards}", disable=not progress, unit="sample"):
        yield build_sample(slot, seed, world, tools)


def dataset_header(total: int, seed: int, num_shards: int, shard_index: int, world_seed: int,
                   registry: ToolRegistry) -> dict[str, Any]:
    return {"kind": "contextual", "dataset_version": DATASET_VERSION, "seed": seed, "world_seed": world_seed,
            "total_samples": total, "num_shards": num_shards, "shard_index": shard_index,
            "tool_registry_sha256": registry.sha256, "tokenizer_sha256": None, "tools": registry.openai_tools(),
            "generator": f"kimi-student {__version__}"}


def run(out: Path, total: int, seed: int, num_shards: int = 1, shard_index: int = 0, world_seed: int = 0,
        fixtures_dir: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Write one shard (or the whole set) and merge its tool results into the fixture files."""
    registry = default_registry()
    fixtures = FixtureSet(registry)
    header = dataset_header(total, seed, num_shards, shard_index, world_seed, registry)

    def rows() -> Iterator[dict[str, Any]]:
        for sample in generate(total, seed, num_shards, shard_index, world_seed, registry, progress):
            for call, attempt in zip(sample["metadata"]["call_sequence"], sample["metadata"]["attempts"], strict=True):
                fixtures.add(call["name"], call["arguments"], attempt["result"])
            yield sample

    count = write_jsonl(out, header, rows())
    fixtures_dir = fixtures_dir or out.parent / "fixtures"
    written = fixtures.merge_into(fixtures_dir)
    return {"out": str(out), "samples": count, "fixtures_dir": str(fixtures_dir), "fixtures": written}
