"""Dynamic batching of judge scores across concurrent requests.

Adjudications run in the server's thread pool, and each asks the Judge to score its candidates; the
Judge scores one batch at a time. `BatchingJudge` queues the candidates of every request and a single
thread scores whatever is queued in one `score_batch` call: nothing waits for a timer (a lone request
is scored at once), and requests that arrive while a batch runs share the next one. Measured with the
toy judge at 8 concurrent adjudications: mean latency 120.6 -> 88.7 ms (docs/caws_service.md).
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from arbiter.judge import JudgeScore
from modeling.judge import JudgeModel

log = logging.getLogger(__name__)


class BatchingJudge:
    """The arbiter's `Judge` protocol (`score`, `artifact_sha256`) over a `JudgeModel`, batched."""

    def __init__(self, model: JudgeModel, max_batch: int = 16):
        self.model, self.max_batch = model, max_batch
        self.artifact_sha256 = model.artifact_sha256
        self._queue: queue.SimpleQueue[tuple[str, str, Future[JudgeScore]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def score(self, prompt: str, candidate: str) -> JudgeScore:
        self._ensure_running()
        future: Future[JudgeScore] = Future()
        self._queue.put((prompt, candidate, future))
        return future.result()

    def close(self) -> None:
        """Stop the scoring thread; a later `score` starts a new one (an app's lifespan may run twice)."""
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                self._queue.put(None)
                self._thread.join(timeout=10)
            self._thread = None

    def _ensure_running(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="judge-batcher", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # close(): finish this batch, then stop
                    self._run(batch)
                    return
                batch.append(item)
            self._run(batch)

    def _run(self, batch: list[tuple[str, str, Future[JudgeScore]]]) -> None:
        try:
            results = self.model.score_batch([p for p, _, _ in batch], [c for _, c, _ in batch])
            scores = [r.to_score() for r in results]
        except Exception as exc:  # every waiting request gets the error, the loop keeps serving
            log.exception("judge batch of %d failed", len(batch))
            for _, _, future in batch:
                future.set_exception(exc)
            return
        for (_, _, future), score in zip(batch, scores, strict=True):
            future.set_result(score)
