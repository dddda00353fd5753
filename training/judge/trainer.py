"""`kimi-student train judge`: the Judge from judge pairs, pairwise ranking plus clause labelling.

Reads top to bottom: data (pairs -> unique candidates, encoded once), model (the role config's
decoder with judge heads), AdamW with the LM trainer's warmup + cosine schedule, the loop, then
calibration on the validation split, metrics on the test split, and the artifact (with
`calibration.json` and the plots inside).

Loss per batch of pairs, with weights from `JudgeOptions`:
    rank    Bradley-Terry  -log sigmoid(s_win - s_lose)   or margin  max(0, m - (s_win - s_lose))
    tie     softplus(d) + softplus(-d) - 2 log 2 with d = s_a - s_b on tied pairs (0 at d = 0)
    clause  binary cross-entropy of the 5 clause logits of every candidate in the batch
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from tqdm import tqdm

from arbiter.claims.entailment import LexicalJudge
from arbiter.judge import CLAUSES
from modeling.checkpoint import check_tokenizer_vocab, save_artifact, sha256_file
from modeling.config import RoleConfig, load_role_config
from modeling.judge import (
    CALIBRATION,
    ENTAILMENT_LABELS,
    Calibration,
    JudgeModel,
    encode_input,
    entailment_input,
    pad_batch,
)
from modeling.model import WIDTH_BUCKET, Transformer
from modeling.precision import effective_precision
from modeling.tokenizer import KSTokenizer
from training.data.jsonl import DataError, read_header, read_jsonl
from training.judge.calibrate import entailment_metrics, fit_calibration, fit_softmax_temperature, judge_metrics
from training.judge.entailment import read_split
from training.judge.plots import plot_judge
from training.ragged import ragged_rows
from training.trainer import lr_at

WINNER = {"a": 1, "b": -1, "tie": 0}


@dataclass(frozen=True)
class JudgeOptions:
    loss: Literal["bt", "margin"] = "bt"
    margin: float = 1.0
    w_rank: float = 1.0
    w_tie: float = 0.5
    w_clause: float = 1.0
    w_entail: float = 1.0  # entailment cross-entropy (configs with model.entailment_head)
    entail_batch: int = 16  # evidence/claim triples per step


@dataclass
class JudgeSplit:
    """Pairs of one split over unique candidates: encodings, clause labels, arbiter PASS flags."""

    inputs: list[tuple[str, str]]
    labels: torch.Tensor  # [C, 5] float
    passed: torch.Tensor  # [C] float: the arbiter's status is PASS
    a: torch.Tensor  # [P] candidate index
    b: torch.Tensor
    winner: torch.Tensor  # [P] 1 a, -1 b, 0 tie
    encodings: dict[int, list[list[int]]] = field(default_factory=dict)  # max_len -> ids per candidate

    def ids(self, tokenizer: KSTokenizer, max_len: int) -> list[list[int]]:
        if max_len not in self.encodings:
            self.encodings[max_len] = [encode_input(tokenizer, p, c, max_len).ids for p, c in self.inputs]
        return self.encodings[max_len]


def load_split(path: Path) -> JudgeSplit:
    header, rows = read_jsonl(path, required=("version", "split"))
    if header.get("kind") != "judge_pairs":
        raise DataError(f"{path}:1: not a judge pairs file (kind {header.get('kind')!r})")
    index: dict[tuple[str, str], int] = {}
    inputs, labels, passed, a, b, winner = [], [], [], [], [], []
    for n, row in enumerate(rows, start=2):
        try:
            sides = []
            for side in (row["a"], row["b"]):
                key = (row["prompt"], side["text"])
                if key not in index:
                    index[key] = len(inputs)
                    inputs.append(key)
                    labels.append([float(c in side["clauses"]) for c in CLAUSES])
                    passed.append(float(side.get("status") == "PASS"))
                sides.append(index[key])
            winner.append(WINNER[row["winner"]])
        except (KeyError, TypeError) as exc:
            raise DataError(f"{path}:{n}: not a judge pair ({exc!r} missing or malformed)") from None
        a.append(sides[0])
        b.append(sides[1])
    if not winner:
        raise DataError(f"{path}: no pairs")
    return JudgeSplit(inputs, torch.tensor(labels), torch.tensor(passed), torch.tensor(a), torch.tensor(b),
                      torch.tensor(winner))


def _autocast(cfg: RoleConfig):
    bf16 = effective_precision(cfg.training.precision, "cpu") == "bf16"  # bf16 only where the CPU has it
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()


def batch_loss(model: Transformer, split: JudgeSplit, pairs: torch.Tensor, ids: list[list[int]], pad_id: int,
               opts: JudgeOptions, cfg: RoleConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of a batch of pair indices; every distinct candidate in it is run once, the candidates end to end
    in one ragged row (training/ragged.py: no padding, each attending within itself)."""
    cands = torch.unique(torch.cat([split.a[pairs], split.b[pairs]]))
    where = {int(c): i for i, c in enumerate(cands)}
    x, positions, layout, last = ragged_rows([ids[int(c)] for c in cands], pad_id)
    with _autocast(cfg):
        score, logits = model.judge(x, ragged=layout, input_pos=positions, last=last)
    score, logits = score.float(), logits.float()
    sa = score[[where[int(c)] for c in split.a[pairs]]]
    sb = score[[where[int(c)] for c in split.b[pairs]]]
    y = split.winner[pairs].float()
    decisive = y != 0
    margin = y[decisive] * (sa - sb)[decisive]
    rank = F.softplus(-margin) if opts.loss == "bt" else F.relu(opts.margin - margin)
    rank = rank.mean() if decisive.any() else score.new_zeros(())
    d = (sa - sb)[~decisive]  # tie term: zero at d = 0, slope 1 far out (a bounded gradient, unlike d^2)
    tie = (F.softplus(d) + F.softplus(-d) - 2 * math.log(2)).mean() if (~decisive).any() else score.new_zeros(())
    clause = F.binary_cross_entropy_with_logits(logits, split.labels[cands])
    loss = opts.w_rank * rank + opts.w_tie * tie + opts.w_clause * clause
    parts = {"loss": loss, "rank": rank, "tie": tie, "clause": clause}
    return loss, {k: float(v.detach()) for k, v in parts.items()}


def load_entailment(data_dir: Path) -> dict[str, tuple[list[dict[str, Any]], torch.Tensor]]:
    """Per split: the triples and their label indices (ENTAILMENT_LABELS order)."""
    out = {}
    for name in ("train", "val", "test"):
        try:
            rows = read_split(data_dir, name)
        except (DataError, FileNotFoundError) as exc:
            raise DataError(f"{data_dir}: no entailment triples for the entailment head ({exc}); run "
                            "`kimi-student data judge-pairs` again") from None
        out[name] = (rows, torch.tensor([ENTAILMENT_LABELS.index(r["label"]) for r in rows]))
    return out


def entailment_loss(model: Transformer, ids: list[list[int]], labels: torch.Tensor, rows: list[int], pad_id: int,
                    cfg: RoleConfig) -> torch.Tensor:
    x, mask = pad_batch([ids[i] for i in rows], pad_id, WIDTH_BUCKET)
    with _autocast(cfg):
        logits = model.entailment(x, mask)
    return F.cross_entropy(logits.float(), labels[rows])


def entail_logits(judge: JudgeModel, rows: list[dict[str, Any]]) -> torch.Tensor:
    return judge.entailment_logits([r["evidence"] for r in rows], [r["claim"] for r in rows])


def lexical_baseline(rows: list[dict[str, Any]], y: torch.Tensor) -> dict[str, object]:
    """The rule-based `LexicalJudge` (claimify's default) on the same triples, for comparison."""
    judge = LexicalJudge()
    probs = torch.tensor([[*judge.triage(r["evidence"], r["claim"]).to_dict().values()] for r in rows])
    return entailment_metrics(probs.clamp_min(1e-6).log(), y, 1.0)


@torch.inference_mode()
def raw_outputs(judge: JudgeModel, split: JudgeSplit) -> dict[str, torch.Tensor]:
    """Raw scores and clause logits of every candidate, pair score differences, labels."""
    score, logits, _ = judge.raw_batch([p for p, _ in split.inputs], [c for _, c in split.inputs])
    return {"score": score, "logits": logits, "labels": split.labels, "passed": split.passed,
            "diff": score[split.a] - score[split.b], "winner": split.winner}


def swap_consistency(judge: JudgeModel, split: JudgeSplit) -> float:
    """Share of pairs where compare(a, b) and compare(b, a) give mirrored verdicts."""
    prompts = [split.inputs[int(i)][0] for i in split.a]
    a = [split.inputs[int(i)][1] for i in split.a]
    b = [split.inputs[int(i)][1] for i in split.b]
    forward, backward = judge.compare_both_ways(prompts, a, b)
    mirror = {"A": "B", "B": "A", "TIE": "TIE"}
    return sum(f.verdict == mirror[r.verdict] for f, r in zip(forward, backward, strict=True)) / len(forward)


@dataclass
class JudgeJob:
    config: RoleConfig
    data_dir: Path  # holds train.jsonl, val.jsonl, test.jsonl
    tokenizer: Path
    out: Path
    options: JudgeOptions = JudgeOptions()
    progress: bool = False
    log_every: int = 10


def train_job(job: JudgeJob) -> dict[str, Any]:
    """Train, calibrate on validation, measure on test, write the artifact; returns the metrics."""
    cfg, t = job.config, job.config.training
    if cfg.role != "judge":
        raise ValueError(f"a {cfg.role} config cannot train a judge")
    torch.manual_seed(t.seed)
    tok = KSTokenizer.load(job.tokenizer)
    check_tokenizer_vocab(tok.vocab_size, cfg, str(job.tokenizer))
    train_split, val_split, test_split = (load_split(job.data_dir / f"{s}.jsonl") for s in ("train", "val", "test"))

    max_len = max(s.seq_len for s in t.seq_len)
    entail = load_entailment(job.data_dir) if cfg.model.entailment_head else None
    if entail is not None:  # encoded once, as JudgeModel renders them
        entail_ids = [encode_input(tok, *entailment_input(r["evidence"], r["claim"]), max_len).ids
                      for r in entail["train"][0]]
    model = Transformer(cfg.model)
    opt = torch.optim.AdamW(model.param_groups(t.weight_decay), lr=t.lr, betas=t.betas)
    rng = random.Random(t.seed)
    entail_rng = random.Random(t.seed + 1)  # its own stream: the pairs' order does not depend on it
    order: list[int] = []
    history: dict[str, list[dict[str, Any]]] = {"train": [], "eval": []}
    t0 = time.perf_counter()
    bar = tqdm(range(t.max_steps), desc="judge", disable=not job.progress)
    for step in bar:
        model.train()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        ids = train_split.ids(tok, t.seq_len_at(step))
        opt.zero_grad(set_to_none=True)
        for _ in range(t.grad_accum):
            if len(order) < t.batch_size:  # epochs over a fresh permutation of the pairs
                order += rng.sample(range(len(train_split.winner)), len(train_split.winner))
            pairs, order = torch.tensor(order[: t.batch_size]), order[t.batch_size :]
            loss, parts = batch_loss(model, train_split, pairs, ids, tok.pad_id, job.options, cfg)
            if entail is not None:
                picks = entail_rng.sample(range(len(entail_ids)), min(job.options.entail_batch, len(entail_ids)))
                e_loss = entailment_loss(model, entail_ids, entail["train"][1], picks, tok.pad_id, cfg)
                loss = loss + job.options.w_entail * e_loss
                parts = {**parts, "loss": float(loss.detach()), "entail": float(e_loss.detach())}
            (loss / t.grad_accum).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        opt.step()
        if step % job.log_every == 0 or step == t.max_steps - 1:
            history["train"].append({"step": step, **parts})
            bar.set_postfix(loss=f"{parts['loss']:.3f}")
        if (step + 1) % t.eval_every == 0 and step + 1 < t.max_steps:
            val = judge_metrics(raw_outputs(JudgeModel(model, tok, max_len=t.seq_len_at(step)), val_split),
                                Calibration())
            history["eval"].append({"step": step + 1, **{k: v for k, v in val.items() if k != "clause_f1"}})
    train_seconds = time.perf_counter() - t0

    judge = JudgeModel(model.eval(), tok, max_len=max_len)
    val_raw = raw_outputs(judge, val_split)  # raw: the same before and after calibration
    calibration = fit_calibration(val_raw)
    if entail is not None:
        temperature = fit_softmax_temperature(entail_logits(judge, entail["val"][0]), entail["val"][1])
        calibration = dataclasses.replace(calibration, entail_temperature=temperature)
    judge = JudgeModel(model, tok, calibration, max_len=max_len)
    val_metrics = judge_metrics(val_raw, calibration)
    test_out = raw_outputs(judge, test_split)
    metrics = {
        "test": {**judge_metrics(test_out, calibration),
                 "swap_consistency": round(swap_consistency(judge, test_split), 4)},
        "val": val_metrics,
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.perf_counter() - t0, 1),
        "steps": t.max_steps,
        "precision": effective_precision(t.precision, "cpu"),
        "train_pairs": len(train_split.winner),
        "max_len": max_len,
        "options": dataclasses.asdict(job.options),
    }
    if entail is not None:
        metrics["entailment"] = {
            name: entailment_metrics(entail_logits(judge, entail[name][0]), entail[name][1],
                                     calibration.entail_temperature) for name in ("val", "test")}
        metrics["entailment"]["test_lexical_baseline"] = lexical_baseline(*entail["test"])

    def extras(tmp: Path) -> None:
        (tmp / CALIBRATION).write_text(json.dumps(calibration.to_dict(), indent=2, sort_keys=True) + "\n")
        (tmp / "judge_metrics.json").write_text(json.dumps({**metrics, "history": history}, indent=2) + "\n")
        plot_judge(history, test_out, calibration, metrics["test"], tmp / "judge_training.png")

    save_artifact(job.out, model, cfg, tokenizer_dir=job.tokenizer, metrics=metrics,
                  dataset_fingerprint=sha256_file(job.data_dir / "train.jsonl"), write_extra=extras)
    return metrics


def train_judge(config: str | Path, tokenizer_dir: Path, out_dir: Path, data_dir: Path, *, scenarios: int = 1500,
                seed: int = 0, progress: bool = False, options: JudgeOptions | None = None) -> dict[str, Any]:
    """Bootstrap entry: make the judge pairs in `data_dir` (kept when they already match `scenarios`
    and `seed`), train the judge of `config` into `out_dir`; returns the metrics."""
    from training.judge.pairs import PAIRS_VERSION
    from training.judge.pairs import run as make_pairs

    try:
        header = read_header(data_dir / "test.jsonl")
        current = header.get("version") == PAIRS_VERSION and header.get("seed") == seed and all(
            (data_dir / f"{s}.jsonl").is_file() for s in ("train", "val")) and read_header(
            data_dir / "train.jsonl").get("total_scenarios") == scenarios
    except DataError:
        current = False
    if not current:
        make_pairs(data_dir, scenarios, seed, progress=progress)
    job = JudgeJob(load_role_config(config), data_dir, tokenizer_dir, out_dir, options or JudgeOptions(),
                   progress=progress)
    return train_job(job)
