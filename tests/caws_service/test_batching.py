"""The judge batcher: concurrent requests share forwards, results equal scoring alone, errors reach callers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modeling.judge import JudgeModel
from service.caws.batching import BatchingJudge
from tests.caws_service.conftest import plea_text


def test_concurrent_scores_are_batched_and_equal_scoring_alone(judge_artifacts: Path) -> None:
    model = JudgeModel.load(judge_artifacts / "judge")
    sizes: list[int] = []
    score_batch = model.score_batch

    def recording(prompts, candidates):  # the real batch path, with its sizes noted
        sizes.append(len(prompts))
        return score_batch(prompts, candidates)

    model.score_batch = recording
    judge = BatchingJudge(model)
    inputs = [(f"spec FEAT-{i}", plea_text(i)) for i in range(48)]
    with ThreadPoolExecutor(16) as pool:
        batched = list(pool.map(lambda pc: judge.score(*pc), inputs))
    judge.close()
    assert sum(sizes) == 48 and max(sizes) > 1 and max(sizes) <= 16
    assert judge.artifact_sha256 == model.artifact_sha256
    for (prompt, candidate), got in zip(inputs, batched, strict=True):
        alone = score_batch([prompt], [candidate])[0].to_score()
        assert abs(got.score - alone.score) < 2e-3
        assert max(abs(got.clauses[c] - alone.clauses[c]) for c in alone.clauses) < 2e-3


def test_a_failing_batch_fails_its_requests_and_the_batcher_goes_on(judge_artifacts: Path) -> None:
    broken = BatchingJudge(JudgeModel.load(judge_artifacts / "judge", max_len=2))  # no room for any input
    with pytest.raises(ValueError, match="leaves no room"):
        broken.score("spec", "plea")
    broken.model.max_len = 512
    assert 0.0 <= broken.score("spec", "plea").score <= 1.0
    broken.close()
    assert 0.0 <= broken.score("spec", "plea").score <= 1.0  # closed by one lifespan, used by the next
    broken.close()
