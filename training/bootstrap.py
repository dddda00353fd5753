"""`kimi-student bootstrap`: the toy portfolio end to end, from nothing to servable artifacts.

data -> tokenizer -> extract -> verify -> teacher -> kd (the teacher's top-k over the training
turns) -> worker (the teacher pruned to the worker's width, then distilled from the KD mix) ->
drafter-data (the worker's own greedy turns with its top-k) -> drafter (the worker pruned, distilled
on them; its evaluation is speculative acceptance against the worker) -> judge (CAWS scenarios the
arbiter labels, pairwise ranking + clause heads on the same tokenizer), into `<artifacts>/`. Each
step records the hashes of its inputs and outputs in `<artifacts>/bootstrap.json`; a step whose
inputs and outputs are unchanged is skipped, so a second run (or a run after a crash) only does what
is missing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimi_student import __version__
from modeling.checkpoint import sha256_file
from modeling.config import PROFILES as CONFIG_PROFILES
from modeling.config import load_role_config, resolve_config_path
from modeling.tokenizer import save_tokenizer, train_tokenizer
from training.data import extract, gates, generate
from training.data.jsonl import DataError, iter_rows
from training.data.kd_mix import build_kd_mix
from training.judge.pairs import PAIRS_VERSION
from training.judge.trainer import train_judge
from training.trainer import TrainJob, train


@dataclass(frozen=True)
class Profile:
    total: int  # contextual samples generated
    vocab_size: int
    eval_turns: int  # held-out assistant turns decoded per evaluation
    drafter_samples: int  # training conversations whose turns the worker writes for the drafter
    kd_samples: int | None  # training conversations the teacher scores for the worker (None: all)
    judge_scenarios: int  # CAWS scenarios behind the judge's pairs (80/10/10 train/val/test)
    seed: int = 42


PROFILES = {
    "tiny": Profile(total=240, vocab_size=512, eval_turns=20, drafter_samples=40, kd_samples=None,
                    judge_scenarios=40),
    # toy: the worker's 600 steps of 8 draw 4,800 examples, so the teacher scores 5,000 of the 9,000
    # training conversations (about 62 % of them are drawn, against 41 % of all 9,000)
    "toy": Profile(total=10000, vocab_size=2048, eval_turns=150, drafter_samples=1000, kd_samples=5000,
                   judge_scenarios=1500),
}
STEPS = 10
JUDGE_SEED = 0  # seed of the judge's scenarios
KD_TOP_K = 20
DRAFT_MAX_TOKENS = 192  # longest turn the worker writes for the drafter (the toy's turns end well before)
DRAFT_DTYPE = "float32"  # the worker writes them as its evaluation and the engine run it (and faster than bf16)


class BootstrapError(RuntimeError):
    """A step failed in a way the user must fix (for example a dataset gate)."""


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _output_hash(path: Path) -> str | None:
    target = path / "manifest.json" if path.is_dir() else path
    if path.is_dir() and not target.exists():
        target = path / "tokenizer.json"
    return sha256_file(target) if target.is_file() else None


class Bootstrap:
    def __init__(self, artifacts: Path, profile: str, log: Callable[[str], None] = print, progress: bool = False):
        if profile not in PROFILES:
            raise BootstrapError(f"unknown profile {profile!r}; choose from {sorted(PROFILES)}")
        self.root, self.profile_name, self.profile = artifacts, profile, PROFILES[profile]
        self.log, self.progress = log, progress
        self.state_path = artifacts / "bootstrap.json"
        self.state: dict[str, Any] = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}
        self.timings: dict[str, float] = {}

    # paths
    @property
    def raw(self) -> Path:
        return self.root / "data" / "contextual.jsonl"

    @property
    def extracted(self) -> Path:
        return self.root / "data" / "contextual_extracted.jsonl"

    @property
    def tokenizer(self) -> Path:
        return self.root / "tokenizer"

    def _step(self, n: int, name: str, inputs: str, output: Path, run: Callable[[], None]) -> None:
        done = self.state.get(name, {})
        if done.get("inputs") == inputs and done.get("output") == _output_hash(output):
            self.log(f"[{n}/{STEPS}] {name}: up to date, skipped")
            return
        self.log(f"[{n}/{STEPS}] {name}: running")
        t0 = time.perf_counter()
        run()
        self.timings[name] = round(time.perf_counter() - t0, 1)
        self.state[name] = {"inputs": inputs, "output": _output_hash(output), "seconds": self.timings[name]}
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_path.write_text(json.dumps(self.state, indent=2) + "\n")
        self.log(f"[{n}/{STEPS}] {name}: done in {self.timings[name]} s")

    def run(self) -> dict[str, Any]:
        p = self.profile
        self._step(1, "data", _digest(p.total, p.seed, generate.DATASET_VERSION, __version__), self.raw,
                   lambda: generate.run(self.raw, p.total, p.seed, progress=self.progress))
        self._step(2, "tokenizer", _digest(_output_hash(self.raw), p.vocab_size), self.tokenizer, self._tokenizer)
        tok_sha = _output_hash(self.tokenizer)
        self._step(3, "extract", _digest(_output_hash(self.raw), tok_sha), self.extracted,
                   lambda: extract.run(self.raw, self.extracted, self.tokenizer, progress=self.progress))
        report = self.root / "data" / "contextual_report.json"
        self._step(4, "verify", _digest(_output_hash(self.extracted)), report, self._verify)
        teacher_in = self._role_inputs("teacher", tok_sha)
        self._step(5, "teacher", teacher_in, self.root / "teacher", lambda: self._train("teacher", teacher_in))
        kd_in = _digest(_output_hash(self.root / "teacher"), _output_hash(self.extracted), KD_TOP_K,
                        sha256_file(self._config("worker")), p.kd_samples)  # the student's window bounds the mix
        self._step(6, "kd", kd_in, self.kd_mix,
                   lambda: self._mix("teacher", "worker", self.kd_mix, p.kd_samples, kd_in))
        worker_in = self._role_inputs("worker", tok_sha, _output_hash(self.kd_mix), _output_hash(self.root / "teacher"))
        self._step(7, "worker", worker_in, self.root / "worker",
                   lambda: self._train("worker", worker_in, self.kd_mix, self.root / "teacher"))
        draft_in = _digest(_output_hash(self.root / "worker"), _output_hash(self.extracted), p.drafter_samples,
                           DRAFT_MAX_TOKENS, "keep_all", DRAFT_DTYPE, sha256_file(self._config("drafter")))
        self._step(8, "drafter-data", draft_in, self.drafter_mix,
                   lambda: self._mix("worker", "drafter", self.drafter_mix, p.drafter_samples, draft_in))
        drafter_in = self._role_inputs("drafter", tok_sha, _output_hash(self.drafter_mix),
                                       _output_hash(self.root / "worker"))
        self._step(9, "drafter", drafter_in, self.root / "drafter",
                   lambda: self._train("drafter", drafter_in, self.drafter_mix, self.root / "worker",
                                       draft_for=self.root / "worker"))
        judge_in = _digest(tok_sha, sha256_file(self._config("judge")), p.judge_scenarios, JUDGE_SEED, PAIRS_VERSION,
                           __version__)
        self._step(10, "judge", judge_in, self.root / "judge",
                   lambda: train_judge(self._config("judge"), self.tokenizer, self.root / "judge",
                                       self.root / "data" / "judge_pairs", scenarios=p.judge_scenarios,
                                       seed=JUDGE_SEED, progress=self.progress))
        return {"artifacts": str(self.root), "profile": self.profile_name, "timings": self.timings,
                "metrics": {r: self._metrics(r) for r in ("teacher", "worker", "drafter", "judge")}}

    @property
    def kd_mix(self) -> Path:
        return self.root / "data" / "kd_mix.jsonl"

    @property
    def drafter_mix(self) -> Path:
        return self.root / "data" / "drafter_mix.jsonl"

    def _config(self, role: str) -> Path:
        """The role's config in this profile; the worker is the KD variant (it trains on the KD mix)."""
        name = CONFIG_PROFILES[f"{self.profile_name}_kd"]["worker"] if role == "worker" else \
            CONFIG_PROFILES[self.profile_name][role]
        return resolve_config_path(name)

    def _role_inputs(self, role: str, tok_sha: str | None, *more: str | None) -> str:
        return _digest(_output_hash(self.extracted), tok_sha, sha256_file(self._config(role)), __version__, *more)

    def _mix(self, source: str, student: str, out: Path, limit: int | None, inputs: str) -> None:
        """The teacher's top-k over the dataset's own turns (forced), or the worker's own greedy turns
        with its top-k (generated, for the drafter), for the turns inside the student's training window.
        A file of the same inputs is resumed (a killed run), one of other inputs (a retrained source
        model) started over."""
        stamp = out.with_name(out.name + ".inputs")
        if not stamp.exists() or stamp.read_text() != inputs:
            for stale in (out, out.with_name(out.name + ".report.json")):
                stale.unlink(missing_ok=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(inputs)
        window = max(stage.seq_len for stage in load_role_config(self._config(student)).training.seq_len)
        common = {"k": KD_TOP_K, "limit": limit, "progress": self.progress, "max_len": window}
        if source == "teacher":  # scores the dataset's own turns, in bf16 where the CPU computes it
            build_kd_mix(f"local:{self.root / source}", self.extracted, self.tokenizer, out, capture="forced",
                         teacher_dtype="bfloat16", **common)
        else:  # writes its own greedy turns
            build_kd_mix(f"local:{self.root / source}", self.extracted, self.tokenizer, out, capture="generated",
                         sampling_temperature=0.0, keep_all=True, max_tokens=DRAFT_MAX_TOKENS,
                         teacher_dtype=DRAFT_DTYPE, **common)

    def _tokenizer(self) -> None:
        texts = (row["prompt_text"] + row["teacher_text"] for _, row in iter_rows(self.raw))
        save_tokenizer(train_tokenizer(texts, self.profile.vocab_size), self.tokenizer)

    def _verify(self) -> None:
        report, code = gates.run(self.extracted, self.root / "data" / "contextual_report.json",
                                 progress=self.progress, plot=True)
        if code:
            failed = [g["gate"] for g in report["gates"] if g["status"] == "FAIL"]
            raise BootstrapError(f"dataset gates failed: {failed}")

    def _train(self, role: str, inputs: str, kd_data: Path | None = None, init_from: Path | None = None,
               draft_for: Path | None = None) -> None:
        checkpoints = self.root / "checkpoints" / role
        stamp = checkpoints / "inputs.json"
        if checkpoints.exists() and (not stamp.exists() or json.loads(stamp.read_text()) != inputs):
            shutil.rmtree(checkpoints)  # checkpoints of other inputs: start over rather than resume
        checkpoints.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(inputs))
        job = TrainJob(load_role_config(self._config(role)), self.extracted, self.tokenizer, self.root / role,
                       checkpoints, eval_turns=self.profile.eval_turns, progress=self.progress, init_from=init_from,
                       kd_data=kd_data, draft_for=draft_for, eval_init=False)
        train(job)

    def _metrics(self, role: str) -> dict[str, Any]:
        manifest = self.root / role / "manifest.json"
        if not manifest.exists():
            return {}
        metrics = json.loads(manifest.read_text()).get("metrics", {})
        return {k: v for k, v in metrics.items() if k != "history"}


def bootstrap(artifacts: Path, profile: str, progress: bool = False) -> dict[str, Any]:
    try:
        return Bootstrap(artifacts, profile, progress=progress).run()
    except DataError as exc:
        raise BootstrapError(str(exc)) from None
