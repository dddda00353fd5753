"""Prometheus metrics of the generation service (one registry per app, so tests can build many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from service.engine.core import EngineObserver

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r, label = self.registry, ["model_name"]
        self.ttft = Histogram("time_to_first_token_seconds", "Time to first token", label,
                              buckets=LATENCY_BUCKETS, registry=r)
        self.itl = Histogram("inter_token_latency_seconds", "Time between output tokens", label,
                             buckets=LATENCY_BUCKETS, registry=r)
        self.e2e = Histogram("e2e_request_latency_seconds", "Arrival to last token, per choice", label,
                             buckets=LATENCY_BUCKETS, registry=r)
        self.queue = Histogram("request_queue_time_seconds", "Arrival to prefill", label,
                               buckets=LATENCY_BUCKETS, registry=r)
        self.running = Gauge("num_requests_running", "Requests with a sequence in the batch", label, registry=r)
        self.waiting = Gauge("num_requests_waiting", "Requests in the queue", label, registry=r)
        self.prompt_tokens = Counter("prompt_tokens", "Prompt tokens processed", label, registry=r)
        self.generation_tokens = Counter("generation_tokens", "Tokens generated", label, registry=r)
        self.requests = Counter("requests", "Finished requests by finish reason", [*label, "finished_reason"],
                                registry=r)
        self.drafts = Counter("spec_decode_num_drafts", "Speculative verification steps (per sequence)", label,
                              registry=r)
        self.draft_tokens = Counter("spec_decode_num_draft_tokens", "Draft tokens proposed", label, registry=r)
        self.accepted_tokens = Counter("spec_decode_num_accepted_tokens", "Draft tokens accepted", label, registry=r)
        self.accepted_per_pos = Counter("spec_decode_num_accepted_tokens_per_pos",
                                        "Draft tokens accepted at each draft position", [*label, "position"],
                                        registry=r)

    def observer(self, model: str) -> EngineObserver:
        return _Observer(self, model)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Observer(EngineObserver):
    def __init__(self, m: Metrics, model: str):
        self.m, self.model = m, model

    def on_queue(self, seconds: float) -> None:
        self.m.queue.labels(self.model).observe(seconds)

    def on_first_token(self, seconds: float) -> None:
        self.m.ttft.labels(self.model).observe(seconds)

    def on_tokens(self, gap_seconds: float, count: int) -> None:
        for _ in range(count):  # a speculative burst of k tokens counts as k gaps of gap/k
            self.m.itl.labels(self.model).observe(gap_seconds / count)

    def on_finish(self, seconds: float) -> None:
        self.m.e2e.labels(self.model).observe(seconds)

    def on_speculation(self, drafted: int, accepted_lengths: list[int]) -> None:
        self.m.drafts.labels(self.model).inc(len(accepted_lengths))
        self.m.draft_tokens.labels(self.model).inc(drafted)
        self.m.accepted_tokens.labels(self.model).inc(sum(accepted_lengths))
        for n in accepted_lengths:
            for pos in range(n):
                self.m.accepted_per_pos.labels(self.model, str(pos)).inc()

    def on_load(self, running: int, waiting: int) -> None:
        self.m.running.labels(self.model).set(running)
        self.m.waiting.labels(self.model).set(waiting)
