"""The trained Judge behind the arbiter's `Judge` protocol: `artifacts/judge` -> score and clause probabilities.

Input: BOS + tokens of `prompt + "\n\n" + candidate`, cut to the model's context. The score head
gives a preference logit and the clause head one logit per CAWS clause; both go through a
sigmoid, so every number the arbiter records is a probability in [0, 1]. One forward at a time
(the model is small; a lock keeps torch from oversubscribing the cores).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import torch

from arbiter.judge import CLAUSES, JudgeScore
from modeling.checkpoint import MANIFEST, load_artifact, sha256_file
from modeling.tokenizer import KSTokenizer

log = logging.getLogger(__name__)


class ModelJudge:
    def __init__(self, model: torch.nn.Module, tokenizer: KSTokenizer, max_len: int, artifact_sha256: str):
        self.model, self.tokenizer, self.max_len = model, tokenizer, max_len
        self.artifact_sha256: str | None = artifact_sha256
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: Path) -> ModelJudge:
        model, config = load_artifact(directory, role="judge")
        # The manifest lists the sha256 of every file of the artifact: its digest names the whole artifact.
        return cls(model, KSTokenizer.load(directory), config.model.max_seq_len, sha256_file(directory / MANIFEST))

    def score(self, prompt: str, candidate: str) -> JudgeScore:
        ids = [self.tokenizer.bos_id, *self.tokenizer.encode(f"{prompt}\n\n{candidate}")][: self.max_len]
        with self._lock, torch.inference_mode():
            score, clauses = self.model.judge(torch.tensor([ids]))
        probs = torch.sigmoid(clauses[0]).tolist()
        return JudgeScore(round(float(torch.sigmoid(score[0])), 4), {c: round(p, 4) for c, p in zip(CLAUSES, probs,
                                                                                                      strict=True)})


class NoJudge:
    """Stands in when no Judge artifact is loaded: recorded as `models.judge: null`, scores 0, no clauses."""

    artifact_sha256: str | None = None

    def score(self, prompt: str, candidate: str) -> JudgeScore:
        return JudgeScore(0.0, {})


def load_judge(artifacts: Path) -> ModelJudge | None:
    """The Judge of `artifacts/judge` when there is one; None (and a log line) otherwise or if it is broken."""
    directory = artifacts / "judge"
    if not (directory / MANIFEST).is_file():
        log.info("no judge artifact at %s: /caws/judge/* answer 503, verdicts record models.judge null", directory)
        return None
    try:
        return ModelJudge.load(directory)
    except Exception:
        log.exception("cannot load the judge at %s", directory)
        return None
