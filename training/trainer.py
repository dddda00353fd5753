"""The trainer: prompt-masked next-token loss, AdamW, warmup + cosine, clipping, accumulation,
a bucketing sequence-length curriculum, checkpoints with full resume, periodic evaluation.

Reads top to bottom (as nanoGPT's train.py): setup, data, model, optimizer, resume, loop.
Two training streams: SFT on the extracted dataset (`data`), or distillation from a KD mix
(`kd_data`: the teacher's text as targets plus its top-k distribution per token, losses in
training/losses.py, weights from the config's `kd` section). Evaluation is the same for both: the
extracted dataset's held-out conversations. A micro-batch runs as one ragged row (training/ragged.py):
its sequences end to end, cut to the tokens the targets need, no padding.
Distributed: under `torchrun --nproc_per_node=N` it runs DDP (gloo on CPU, NCCL on GPU). The
config's `batch_size` is the global batch; each rank takes its contiguous share, and the loss is
normalised by the global number of target tokens, so N processes follow the single-process
trajectory.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from modeling.checkpoint import ArtifactError, check_tokenizer_vocab, load_artifact, save_artifact, sha256_file
from modeling.config import ConfigError, KDConfig, RoleConfig, TrainingConfig
from modeling.model import Transformer
from modeling.precision import effective_precision
from modeling.prune import PruneError, prune
from modeling.tokenizer import KSTokenizer
from training import checkpoints, kd_data, losses, parallel_draft, qat
from training.data.jsonl import DataError
from training.drafter_eval import acceptance_report, worker_trajectories
from training.plots import plot_training
from training.ragged import ragged_batch
from training.sft_data import IGNORE, Example, SFTData, collate, fitting, pick_batch
from training.toolcall_eval import evaluate

PRUNE_CALIBRATION_ROWS = 16  # training sequences whose activations rank the units `--init-from` prunes


@dataclass
class TrainJob:
    config: RoleConfig
    data: Path
    tokenizer: Path
    out: Path
    checkpoints: Path | None = None  # default: <out.parent>/checkpoints/<out.name>
    resume: bool = True
    force: bool = False  # resume even though the dataset changed
    eval_turns: int = 120
    progress: bool = False
    init_from: Path | None = None  # start from this artifact (same architecture, or wider: pruned), e.g. KD, QAT
    kd_data: Path | None = None  # a KD mix: distil from it instead of SFT on `data` (kept for evaluation)
    eval_init: bool = True  # with init_from: evaluate the starting weights first (before/after reports)
    draft_for: Path | None = None  # a drafter's worker artifact: evaluate speculative acceptance against it
    history: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"train": [], "eval": []})
    worker: Transformer | None = field(default=None, repr=False)  # draft_for, loaded at the first evaluation
    trajectories: list[tuple[list[int], list[int]]] = field(default_factory=list, repr=False)

    @property
    def checkpoint_dir(self) -> Path:
        return self.checkpoints or self.out.parent / "checkpoints" / self.out.name


def lr_at(step: int, cfg: RoleConfig) -> float:
    """Linear warmup to `lr`, then cosine decay to `min_lr` at `max_steps`; from the QAT start step on, the
    QAT schedule (training.qat.qat_lr_at)."""
    t = cfg.training
    if t.qat_start_step is not None and step >= t.qat_start_step:
        return qat.qat_lr_at(step, t)
    if step < t.warmup_steps:
        return t.lr * (step + 1) / t.warmup_steps
    progress = (step - t.warmup_steps) / max(1, t.max_steps - t.warmup_steps)
    return t.min_lr + 0.5 * (t.lr - t.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _autocast(cfg: RoleConfig) -> torch.autocast:
    """bf16 autocast when the config asks for it and this machine computes bf16 natively."""
    bf16 = effective_precision(cfg.training.precision, _device()) == "bf16"
    return torch.autocast(_device(), dtype=torch.bfloat16, enabled=bf16)


def _dist() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _all_sum(x: float, world: int) -> float:
    if world == 1:
        return x
    t = torch.tensor([x], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item())


@torch.no_grad()
def validation_loss(model: Transformer, data: SFTData, cfg: RoleConfig, pad_id: int, batches: int = 4) -> float:
    """Mean target-token loss on fixed held-out batches (the same every evaluation)."""
    model.eval()
    seq = max(s.seq_len for s in cfg.training.seq_len)
    total, count = 0.0, 0
    pool = data.heldout or data.train
    for b in range(batches):
        x, y, _ = collate(pick_batch(pool, seq, cfg.training.batch_size, cfg.training.seed + 7, b), pad_id, seq)
        at = y != IGNORE
        total += losses.ce(model(x, logits_at=at), y[at][None]).sum().item()
        count += int(at.sum())
    model.train()
    return total / max(1, count)


def prune_calibration(stream: Sequence[Example], t: TrainingConfig, pad_id: int) -> torch.Tensor:
    """Token ids [PRUNE_CALIBRATION_ROWS, T] of the training stream on which `--init-from` ranks the units
    it prunes: the run's first draw at its longest stage (the same rows for a given stream and seed)."""
    max_len = max(s.seq_len for s in t.seq_len)
    return collate(pick_batch(stream, max_len, PRUNE_CALIBRATION_ROWS, t.seed, 0), pad_id, max_len)[0]


def _init_weights(model: Transformer, artifact: Path, tokenizer: Path, calibration: torch.Tensor) -> None:
    """Copy an artifact's weights into `model`: the same architecture, or a larger one that
    `modeling.prune` cuts down to it (fewer SwiGLU units, chosen on `calibration` token ids), and the
    same tokenizer; anything else is refused. A checkpoint of this run (resume) still takes
    precedence over these weights."""
    source, saved = load_artifact(artifact)
    ours, theirs = tokenizer / "tokenizer.json", artifact / "tokenizer.json"
    if theirs.is_file() and sha256_file(theirs) != sha256_file(ours):
        raise ArtifactError(f"{artifact}: --init-from artifact was trained with another tokenizer than {tokenizer}")
    if saved.model == model.config:
        model.load_state_dict(source.state_dict())
        return
    try:
        model.load_state_dict(prune(source, model.config, calibration).state_dict())
    except PruneError as exc:
        raise ArtifactError(f"{artifact}: --init-from artifact cannot start this model: {exc}") from None


def train(job: TrainJob) -> dict[str, Any]:
    cfg, t = job.config, job.config.training
    rank, world = _dist()
    torch.manual_seed(t.seed)
    tok = KSTokenizer.load(job.tokenizer)
    check_tokenizer_vocab(tok.vocab_size, cfg, str(job.tokenizer / "tokenizer.json"))
    max_len = max(s.seq_len for s in t.seq_len)
    data = SFTData.load(job.data, tok, max_len, heldout_only=job.kd_data is not None)
    kd = _load_kd(job, tok, max_len, data) if job.kd_data is not None else None
    if kd is None and t.kd is not None:
        raise ConfigError(f"{cfg.role} config has a training.kd section but no --kd-data was given; "
                          "pass the KD mix, or drop the section to train by SFT")
    stream = kd.train if kd else data.train
    fingerprint = kd_data.combined_fingerprint(data.fingerprint, kd.fingerprint) if kd else data.fingerprint
    for stage in t.seq_len:  # fail before training, not at the first step of a later stage
        pick_batch(stream, stage.seq_len, t.batch_size, t.seed, 0, 0, world)

    model = Transformer(cfg.model)
    if job.init_from is not None:
        _init_weights(model, job.init_from, job.tokenizer, prune_calibration(stream, t, tok.pad_id))
    optimizer = torch.optim.AdamW(model.param_groups(t.weight_decay), lr=t.lr, betas=t.betas, fused=True)
    start = 0
    if job.resume:
        start = checkpoints.restore(job.checkpoint_dir, model, optimizer, fingerprint, job.force, job.history)
    if t.qat is not None and t.qat_start_step is not None and start >= t.qat_start_step:
        qat.enable_fake_quant(model, t.qat)  # resumed at or past the switch: back in QAT mode
    ddp = DistributedDataParallel(model) if world > 1 else model
    model.train()

    weights = {"tool_name": t.w_tool, "json_args": t.w_args, "integration": t.w_integr}
    bar = tqdm(range(start, t.max_steps), initial=start, total=t.max_steps, desc=f"train {cfg.role}",
               disable=not job.progress or rank != 0, unit="step")
    if job.init_from is not None and job.eval_init and start == 0 and rank == 0:
        _evaluate(job, model, data, tok, 0)  # the starting point, for before/after reports
    t0, tokens_seen = time.perf_counter(), 0
    pools: dict[int, list] = {}  # per curriculum length: the samples that fit it
    for step in bar:
        if t.qat is not None and step == t.qat_start_step:
            qat.enable_fake_quant(model, t.qat)  # same Parameters: the optimizer and its moments carry on
        seq_len = t.seq_len_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        if seq_len not in pools:
            pools[seq_len] = fitting(stream, seq_len)
        picks = [pick_batch(stream, seq_len, t.batch_size, t.seed, step * t.grad_accum + m, rank, world,
                            pools[seq_len]) for m in range(t.grad_accum)]
        micro = [(*kd_data.collate(b, tok.pad_id, seq_len, weights), None, None) for b in picks]  # SFT: no top-k
        if cfg.model.parallel_draft:  # + groups of pad tokens that learn to guess further ahead (and their mask)
            cuts = torch.Generator().manual_seed(t.seed * 1_000_003 + step)
            micro = [parallel_draft.parallel_batch(*b[:6], cfg.model.parallel_draft, t.draft_groups, tok.pad_id, cuts)
                     for b in micro]
        micro = [ragged_batch(*b, pad_id=tok.pad_id) for b in micro]  # no padding, no tokens after the targets
        n_targets = _all_sum(float(sum(float(b[2].sum()) for b in micro)), world)
        loss_sum, parts = 0.0, {"ce": 0.0, "div": 0.0}
        for m, (x, y, w, top_ids, top_lps, kd_mask, positions, layout) in enumerate(micro):
            sync = ddp.no_sync() if world > 1 and m < len(micro) - 1 else nullcontext()
            at = y != IGNORE  # every loss term sits on a target (kd_mask is a subset of it)
            y, w = y[at][None], w[at][None]  # [1, N]: the logits below are computed there only
            with sync, _autocast(cfg):
                logits = ddp(x, positions, logits_at=at, ragged=layout)
                if t.kd is not None and top_ids is not None:  # token-level KD: alpha_ce * CE + alpha_kl * div
                    top_ids, top_lps, kd_mask = top_ids[at][None], top_lps[at][None], kd_mask[at][None]
                    ce_tok, div_tok = _kd_terms(logits, y, top_ids, top_lps, kd_mask, t.kd)
                    ce, div = (ce_tok * w).sum(), (div_tok * w).sum()
                    loss = t.kd.alpha_ce * ce + t.kd.alpha_kl * div
                    parts["ce"], parts["div"] = parts["ce"] + ce.item(), parts["div"] + div.item()
                else:
                    loss = (losses.ce(logits, y) * w).sum()
                (loss * world / n_targets).backward()  # DDP averages over ranks; undo it: global weighted mean
            loss_sum += loss.item()
            tokens_seen += x.numel()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step_loss = _all_sum(loss_sum, world) / n_targets
        entry = {"step": step + 1, "loss": round(step_loss, 6), "lr": lr_at(step, cfg), "seq_len": seq_len,
                 "grad_norm": round(float(grad_norm), 4)}
        if kd and kd.token_level:
            entry.update({f"kd_{k}": round(_all_sum(v, world) / n_targets, 6) for k, v in parts.items()})
        job.history["train"].append(entry)
        bar.set_postfix(loss=f"{step_loss:.3f}", seq=seq_len, tok_s=f"{tokens_seen / (time.perf_counter() - t0):.0f}")
        done = step + 1
        if rank == 0 and (done % t.eval_every == 0 or done == t.max_steps):
            _evaluate(job, model, data, tok, done)
            checkpoints.save(job.checkpoint_dir, model, optimizer, cfg, done, fingerprint, job.history)
        if world > 1:
            dist.barrier()
    elapsed = time.perf_counter() - t0
    metrics = _final_metrics(job, data, kd, tokens_seen * world, elapsed)
    if rank == 0:
        save_artifact(job.out, model, cfg, tokenizer_dir=job.tokenizer, metrics=metrics,
                      dataset_fingerprint=fingerprint, int8=qat.is_fake_quant(model),
                      write_extra=lambda d: plot_training(job.history, d / "training_curves.png", cfg.role))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return metrics


def _load_kd(job: TrainJob, tok: KSTokenizer, max_len: int, data: SFTData) -> kd_data.KDData:
    """The KD mix as the training stream: built from `data` (so the held-out split is the same), for
    this tokenizer; a sequence-level mix trains on the teacher's text only (CE), with a warning."""
    cfg = job.config.training.kd
    if cfg is None:
        raise ConfigError(f"--kd-data needs a training.kd section in the {job.config.role} config (loss weights)")
    kd = kd_data.KDData.load(job.kd_data, tok, max_len)
    source = kd.header["source"].get("fingerprint")
    if source != data.fingerprint:
        raise DataError(f"{job.kd_data}: KD mix was built from another dataset than {job.data} (source fingerprint "
                        f"{str(source)[:12]}… vs {data.fingerprint[:12]}…); its held-out split would not match")
    if not kd.token_level:
        warnings.warn(f"{job.kd_data}: sequence-level KD mix (no teacher top-k): training on CE of the teacher's "
                      "text only", stacklevel=2)
    return kd


def _kd_terms(logits: torch.Tensor, y: torch.Tensor, ids: torch.Tensor, lps: torch.Tensor, mask: torch.Tensor,
              cfg: KDConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(CE on the teacher's text, divergence) per position; at temperature 1 both read one log-softmax."""
    if cfg.loss == "jsd":
        teacher = losses.dense_teacher_logprobs(ids, lps, logits.shape[-1], cfg.temperature, cfg.tail)
        return losses.ce(logits, y), losses.generalized_jsd(logits, teacher, mask, cfg.jsd_beta, cfg.temperature)
    if cfg.temperature != 1.0:
        return losses.ce(logits, y), losses.topk_kl(logits, ids, lps, mask, cfg.temperature, cfg.tail)
    logq = torch.log_softmax(logits.float(), dim=-1)
    return losses.nll(logq, y), losses.topk_kl_logprobs(logq, ids, lps, mask, 1.0, cfg.tail)


def _evaluate(job: TrainJob, model: Transformer, data: SFTData, tok: KSTokenizer, step: int) -> None:
    entry: dict[str, Any] = {"step": step, "val_loss": round(validation_loss(model, data, job.config, tok.pad_id), 6)}
    if job.eval_turns > 0 and data.rows_heldout:
        if job.draft_for is not None:
            entry.update(_acceptance(job, model, data, tok))
        else:
            entry.update(evaluate(model, tok, data.rows_heldout, data.tools, max_turns=job.eval_turns))
    job.history["eval"].append(entry)
    print(f"[{job.config.role}] step {step}: " + ", ".join(f"{k}={v}" for k, v in entry.items() if k != "step"),
          flush=True)


def _acceptance(job: TrainJob, model: Transformer, data: SFTData, tok: KSTokenizer) -> dict[str, Any]:
    """A drafter's offline acceptance against its worker on the worker's greedy held-out trajectories
    (training/drafter_eval.py), flattened for the history: alpha, greedy acceptance, expected tokens
    per verification step (sampling, and greedy) at gamma 3, 4, 5 (and a parallel drafter's deepest)."""
    assert job.draft_for is not None
    if job.worker is None:  # loaded and decoded once per run
        job.worker, _ = load_artifact(job.draft_for)
        if job.worker.config.vocab_size != model.config.vocab_size:
            raise ArtifactError(f"{job.draft_for}: the worker's vocabulary differs from the drafter's")
        job.trajectories = worker_trajectories(job.worker, tok, data.rows_heldout, data.tools, max_turns=job.eval_turns)
    deepest = model.config.parallel_draft + 1  # a parallel drafter: also every guess it makes
    gammas = (3, 4, 5, *([deepest] if deepest > 5 else []))
    report = acceptance_report(job.worker, model, job.trajectories, gammas)
    model.train()
    out: dict[str, Any] = {"alpha": report["alpha"], "greedy_acceptance": report["greedy_acceptance"]}
    for key in ("alpha_by_position", "alpha_all_guesses"):  # a parallel drafter's later guesses
        if key in report:
            out[key] = report[key]
    for gamma in gammas:
        out[f"expected_tokens_g{gamma}"] = report[f"gamma_{gamma}"]["expected_tokens"]
        out[f"greedy_tokens_g{gamma}"] = report[f"gamma_{gamma}"]["greedy_tokens"]
    return out


def _final_metrics(job: TrainJob, data: SFTData, kd: kd_data.KDData | None, tokens: int, elapsed: float
                   ) -> dict[str, Any]:
    last_eval = job.history["eval"][-1] if job.history["eval"] else {}
    first_eval = job.history["eval"][0] if job.history["eval"] else {}
    extra: dict[str, Any] = {}
    if job.init_from is not None and first_eval.get("step") == 0:
        extra["init_eval"] = {k: v for k, v in first_eval.items() if k != "step"}
    if kd is not None:
        extra["kd"] = {k: kd.header.get(k) for k in ("teacher", "mode", "capture", "k", "temperature")} | {
            "records": kd.records, "examples": len(kd.train), "heldout_dropped": kd.heldout_dropped,
            "truncated": kd.truncated,
            "token_level": kd.token_level}
    return {"steps": job.config.training.max_steps, "final_train_loss": job.history["train"][-1]["loss"],
            **{k: v for k, v in last_eval.items() if k != "step"},
            "train_samples": len(kd.train if kd else data.train), "heldout_samples": len(data.heldout),
            "truncated_samples": kd.truncated if kd else data.truncated,
            "tokens_per_s": round(tokens / elapsed, 1) if elapsed else None,
            "precision": effective_precision(job.config.training.precision, _device()), **extra,
            "history": job.history}
