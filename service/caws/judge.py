"""The trained Judge behind the arbiter's `Judge` protocol: `artifacts/judge` loaded as
`modeling.judge.JudgeModel` (the training rendering, the documented truncation rule and the
calibration stored with the artifact), or nothing when there is no artifact.
"""

from __future__ import annotations

import logging
from pathlib import Path

from arbiter.judge import JudgeScore
from modeling.checkpoint import MANIFEST
from modeling.judge import JudgeModel

log = logging.getLogger(__name__)


class NoJudge:
    """Stands in when no Judge artifact is loaded: recorded as `models.judge: null`, scores 0, no clauses."""

    artifact_sha256: str | None = None

    def score(self, prompt: str, candidate: str) -> JudgeScore:
        return JudgeScore(0.0, {})


def load_judge(artifacts: Path, onnx_dir: Path | None = None, threads: int | None = 1) -> JudgeModel | None:
    """The Judge of `artifacts/judge` when there is one; None (and a log line) otherwise or if it is broken.
    With `onnx_dir` (`--backend judge=onnx`) its heads run in onnxruntime from that export, which must be
    of exactly these weights (checked at startup: `service.caws.setup`)."""
    directory = artifacts / "judge"
    if not (directory / MANIFEST).is_file():
        log.info("no judge artifact at %s: /caws/judge/* answer 503, verdicts record models.judge null", directory)
        return None
    try:
        heads = None
        if onnx_dir is not None:
            from conversion.onnx_runtime import OnnxJudgeHeads

            heads = OnnxJudgeHeads(onnx_dir, threads)
        return JudgeModel.load(directory, heads=heads)
    except Exception:
        log.exception("cannot load the judge at %s", directory)
        return None
