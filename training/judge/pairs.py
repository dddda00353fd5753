"""`kimi-student data judge-pairs`: Judge pairs from synthesised CAWS scenarios, labelled by the arbiter.

Each scenario yields minimal pairs: a base plea `a` (sometimes with a defect of its own) and a plea
`b` that differs from it along one axis:

    budget     b goes over the spec budget (files, LOC or both)
    scope      one of b's files lies under scope.out or in another module
    naming     one of b's files is a shadow copy (`-copy`, `_final`, `new-` ...)
    gate       b fails one more gate result (tests, lint, coverage, mutation, contracts)
    evidence   b offers fewer evidence items than the tier asks for (possibly none)
    rationale  b's rationale is vague, names no code, gives no purpose, or is empty
    waiver     both need a waiver; a justifies it (id, reason, mitigation), b does not
    tie        b is a re-worded, re-filed plea of the same standing

Labels and winners come from `training.judge.labels` (the arbiter's examination plus the documented
rules), never from the axis. Every pair is written in both orders (swap augmentation; the winner is
mirrored). Splits are stratified by risk tier and assigned per scenario by a stable hash, so no
scenario appears in two splits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from arbiter.loaders import read_policy
from arbiter.pleas import Plea
from arbiter.policy import Policy
from arbiter.result import Err
from training.data.jsonl import write_jsonl
from training.judge import scenarios as S
from training.judge.entailment import write_splits
from training.judge.labels import EVIDENCE_MINIMUM, Examiner, Labelled, winner

PAIRS_VERSION = "judge-pairs/v2"  # v2: with the entailment triples (training.judge.entailment)
ENTAILMENT_PER_SCENARIO = 2  # evidence/claim triples written per scenario
AXES = ("budget", "scope", "naming", "gate", "evidence", "rationale", "waiver", "tie")
SPLITS = (("train", 0.8), ("val", 0.1), ("test", 0.1))
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
PAIRS_PER_SCENARIO = 2


def split_of(scenarios: list[S.Scenario], seed: int) -> dict[str, str]:
    """Scenario id -> split: per tier, ordered by a stable hash and cut 80/10/10."""
    out: dict[str, str] = {}
    for tier in (1, 2, 3):
        ids = sorted((s.id for s in scenarios if s.tier == tier),
                     key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
        start = 0
        for k, (name, share) in enumerate(SPLITS):
            end = len(ids) if k == len(SPLITS) - 1 else start + round(share * len(ids))
            out.update({i: name for i in ids[start:end]})
            start = end
    return out


def base_plan(rng: random.Random, sc: S.Scenario, axis: str) -> S.PleaPlan:
    """A plea within budget, passing its gates, with enough evidence and a specific rationale,
    then (about a third of the time) one defect of its own that the axis does not vary."""
    need = EVIDENCE_MINIMUM[sc.tier]
    plan = S.PleaPlan(files=tuple(S.within_budget(rng, sc)), evidence=rng.randint(need, need + 2),
                      rationale=("specific", rng.randrange(S.RATIONALE_KINDS["specific"])))
    shared = {"budget": ("evidence", "gate", "rationale"), "waiver": ("evidence", "rationale"),
              "evidence": ("gate", "rationale", "budget"), "rationale": ("evidence", "gate", "budget")}
    options = shared.get(axis, ("evidence", "gate", "rationale", "budget"))
    if axis == "waiver" or rng.random() < 0.35:
        plan = _defect(rng, sc, plan, rng.choice(options) if axis != "waiver" else
                       rng.choice(("budget", "waivable_gate")))
    if axis == "waiver":
        plan = replace(plan, waiver_note="justified")
    elif _waivable(plan) and rng.random() < 0.6:
        plan = replace(plan, waiver_note=rng.choice(("justified", "bare")))
    return plan


def _waivable(plan: S.PleaPlan) -> bool:
    return bool(plan.extras.get("over") or plan.failing - {"tests"} or plan.extras.get("scope"))


def _defect(rng: random.Random, sc: S.Scenario, plan: S.PleaPlan, kind: str) -> S.PleaPlan:
    need = EVIDENCE_MINIMUM[sc.tier]
    if kind == "evidence":
        return replace(plan, evidence=rng.randint(0, need - 1))
    if kind == "rationale":
        return replace(plan, rationale=_weak_rationale(rng))
    if kind == "budget":
        return replace(plan, files=tuple(S.over_budget(rng, sc)), extras={**plan.extras, "over": True})
    gates = [g for g in S.RESULT_GATES if g not in plan.failing and (g != "contract_compliance" or sc.tier < 3)]
    if kind == "waivable_gate":
        gates = [g for g in gates if g != "tests"]
    return replace(plan, failing=plan.failing | {rng.choice(gates)})


def _weak_rationale(rng: random.Random) -> tuple[str, int]:
    kind = rng.choice(("located", "purposed", "vague", "vague", "empty"))
    return kind, rng.randrange(S.RATIONALE_KINDS[kind])


def perturb(rng: random.Random, sc: S.Scenario, a: S.PleaPlan, axis: str) -> S.PleaPlan:
    """The plea `b` of a pair: `a` changed along `axis` only."""
    files = list(a.files)
    if axis == "budget":
        b = replace(a, files=tuple(S.over_budget(rng, sc)), extras={**a.extras, "over": True})
        return replace(b, waiver_note=rng.choice(("none", "bare", "justified"))) if rng.random() < 0.4 else b
    if axis == "scope":
        path, added, removed = files[-1]
        files[-1] = (S.out_of_scope_path(rng, sc), added, removed)
        return replace(a.with_files(files), extras={**a.extras, "scope": True})
    if axis == "naming":
        path, added, removed = files[0]
        files[0] = (S.shadow_path(rng, path), added, removed)
        return replace(a.with_files(files), extras={**a.extras, "scope": True})
    if axis in ("gate", "evidence"):
        return _defect(rng, sc, a, axis)
    if axis == "rationale":
        return replace(a, rationale=_weak_rationale(rng))
    if axis == "waiver":
        return replace(a, waiver_note=rng.choice(("bare", "none")))
    return _reworded(rng, sc, a)


def _reworded(rng: random.Random, sc: S.Scenario, a: S.PleaPlan) -> S.PleaPlan:
    """Same standing, other words and files: same budget side, gates, evidence side, rationale kind."""
    need = EVIDENCE_MINIMUM[sc.tier]
    if a.extras.get("over"):  # same sizes (so the same waiver deltas cover it), other names
        renamed = S.in_scope_files(rng, sc, len(a.files), len(a.files))
        files = [(path, added, removed) for (path, _, _), (_, added, removed) in zip(renamed, a.files, strict=True)]
    else:
        files = S.within_budget(rng, sc)
    if a.evidence >= need:
        evidence = rng.randint(need, need + 2)
    elif a.evidence == 0:
        evidence = 0
    else:
        evidence = rng.randint(1, need - 1)
    kind = a.rationale[0]
    return replace(a, files=tuple(files), evidence=evidence, rationale=(kind, rng.randrange(S.RATIONALE_KINDS[kind])))


def to_plea(rng: random.Random, sc: S.Scenario, plan: S.PleaPlan, candidate_id: str) -> Plea:
    change_id = f"{sc.spec['id']}-{candidate_id}"
    evidence = S.render_evidence(rng, sc, change_id, plan.evidence)
    return Plea(candidate_id, S.render_diff(plan.files), S.render_rationale(rng, sc, plan), evidence,
                S.render_gate_results(rng, sc, plan.failing))


def _side(lab: Labelled) -> dict[str, Any]:
    return {"text": lab.text, "clauses": list(lab.clauses), "status": lab.status, "quality": lab.quality,
            "violations": list(lab.violations)}


def scenario_pairs(rng: random.Random, sc: S.Scenario, policy: Policy, split: str) -> Iterator[dict[str, Any]]:
    """PAIRS_PER_SCENARIO pairs on distinct axes, each in both orders."""
    examiner = Examiner(sc.spec, list(sc.waivers), sc.now, policy)
    for k, axis in enumerate(rng.sample(AXES, PAIRS_PER_SCENARIO)):
        a_plan = base_plan(rng, sc, axis)
        b_plan = perturb(rng, sc, a_plan, axis)
        a = examiner.examine(to_plea(rng, sc, a_plan, "a"))
        b = examiner.examine(to_plea(rng, sc, b_plan, "b"))
        won = winner(a, b)
        common = {"scenario": sc.id, "split": split, "axis": axis, "tier": sc.tier, "prompt": a.prompt}
        pid = f"{sc.id}-p{k}"
        yield {"id": pid, **common, "a": _side(a), "b": _side(b), "winner": won}
        yield {"id": pid + "-swap", **common, "a": _side(b), "b": _side(a),
               "winner": {"a": "b", "b": "a", "tie": "tie"}[won]}


def run(out_dir: Path, scenarios: int = 1500, seed: int = 0, progress: bool = False,
        policy_path: Path | None = None) -> dict[str, Any]:
    """Write `<out_dir>/{train,val,test}.jsonl` (and the entailment triples, `entail_*.jsonl`); returns
    counts per split, winner and axis."""
    policy = read_policy(policy_path)
    if isinstance(policy, Err):
        raise ValueError("; ".join(str(d) for d in policy.errors))
    rng = random.Random(seed)
    made = [S.make_scenario(rng, i, NOW) for i in range(scenarios)]
    splits = split_of(made, seed)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in SPLITS}
    for sc in tqdm(made, desc="judge scenarios", disable=not progress):
        rows[splits[sc.id]].extend(scenario_pairs(random.Random(f"{seed}:{sc.id}"), sc, policy.value, splits[sc.id]))
    summary: dict[str, Any] = {"version": PAIRS_VERSION, "seed": seed, "scenarios": scenarios, "splits": {},
                               "entailment": write_splits(out_dir, ENTAILMENT_PER_SCENARIO * scenarios, seed)}
    for name, items in rows.items():
        header = {"kind": "judge_pairs", "version": PAIRS_VERSION, "seed": seed, "split": name,
                  "total_scenarios": scenarios, "scenarios": len({r["scenario"] for r in items}),
                  "policy_sha256": policy.value.sha256}
        write_jsonl(out_dir / f"{name}.jsonl", header, items)
        summary["splits"][name] = {"pairs": len(items), "scenarios": header["scenarios"],
                                   "winners": dict(Counter(r["winner"] for r in items)),
                                   "axes": dict(Counter(r["axis"] for r in items))}
    return summary
