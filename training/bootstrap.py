"""`kimi-student bootstrap`: the toy portfolio end to end, from nothing to servable artifacts.

data -> tokenizer -> extract -> verify -> teacher -> worker, into `<artifacts>/`. Each step records
the hashes of its inputs and outputs in `<artifacts>/bootstrap.json`; a step whose inputs and
outputs are unchanged is skipped, so a second run (or a run after a crash) only does what is missing.
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
from training.trainer import TrainJob, train


@dataclass(frozen=True)
class Profile:
    total: int  # contextual samples generated
    vocab_size: int
    eval_turns: int  # held-out assistant turns decoded per evaluation
    seed: int = 42


PROFILES = {
    "tiny": Profile(total=240, vocab_size=512, eval_turns=20),
    "toy": Profile(total=10000, vocab_size=2048, eval_turns=150),
}


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
            self.log(f"[{n}/6] {name}: up to date, skipped")
            return
        self.log(f"[{n}/6] {name}: running")
        t0 = time.perf_counter()
        run()
        self.timings[name] = round(time.perf_counter() - t0, 1)
        self.state[name] = {"inputs": inputs, "output": _output_hash(output), "seconds": self.timings[name]}
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_path.write_text(json.dumps(self.state, indent=2) + "\n")
        self.log(f"[{n}/6] {name}: done in {self.timings[name]} s")

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
        for n, role in ((5, "teacher"), (6, "worker")):
            config = resolve_config_path(CONFIG_PROFILES[self.profile_name][role])
            inputs = _digest(_output_hash(self.extracted), tok_sha, sha256_file(config), __version__)
            self._step(n, role, inputs, self.root / role, lambda c=config, r=role, i=inputs: self._train(r, c, i))
        return {"artifacts": str(self.root), "profile": self.profile_name, "timings": self.timings,
                "metrics": {r: self._metrics(r) for r in ("teacher", "worker")}}

    def _tokenizer(self) -> None:
        texts = (row["prompt_text"] + row["teacher_text"] for _, row in iter_rows(self.raw))
        save_tokenizer(train_tokenizer(texts, self.profile.vocab_size), self.tokenizer)

    def _verify(self) -> None:
        report, code = gates.run(self.extracted, self.root / "data" / "contextual_report.json",
                                 progress=self.progress, plot=True)
        if code:
            failed = [g["gate"] for g in report["gates"] if g["status"] == "FAIL"]
            raise BootstrapError(f"dataset gates failed: {failed}")

    def _train(self, role: str, config: Path, inputs: str) -> None:
        checkpoints = self.root / "checkpoints" / role
        stamp = checkpoints / "inputs.json"
        if checkpoints.exists() and (not stamp.exists() or json.loads(stamp.read_text()) != inputs):
            shutil.rmtree(checkpoints)  # checkpoints of other inputs: start over rather than resume
        checkpoints.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(inputs))
        job = TrainJob(load_role_config(config), self.extracted, self.tokenizer, self.root / role, checkpoints,
                       eval_turns=self.profile.eval_turns, progress=self.progress)
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
