"""The engine: continuous batching of token-in/token-out requests over a `Backend`.

One background thread runs `step()` in a loop. A step (1) drops finished or cancelled sequences and
compacts the cache rows, (2) admits waiting requests while rows are free (prefill once per request,
copied to its n rows), (3) advances every running sequence together: one batched decode, or one
speculative burst (the drafter or n-gram lookup proposes gamma tokens per row, the target scores all
of them in one batched pass, `speculative_tokens` accepts a prefix), and (4) hands each choice's new
tokens to its request's sink. Sequence i always lives in cache row i, so every call reads rows
0..B-1 and a finished row is filled by moving the last one into it.

Nothing here knows text: stop strings, tool-call parsing and JSON live in the API layer
(`service.engine.detokenize`), which calls `finish_choice` when a stop string ends a choice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from modeling.constrained import Constraint, masked
from service.engine.backend import Backend
from service.engine.params import GenerationParams, StepOutput, TokenLogprobs
from service.engine.sampling import greedy_ids, make_generator, sample, target_probs, token_logprobs
from service.engine.speculative import AdaptiveGamma, ngram_propose, speculative_tokens

log = logging.getLogger(__name__)

Speculative = Literal["draft", "ngram", "off"]


class QueueFullError(Exception):
    """The waiting queue is at capacity: the client should retry later (503 + Retry-After)."""


class EngineObserver:
    """Metric hooks, called from the engine thread; the default records nothing."""

    def on_queue(self, seconds: float) -> None: ...
    def on_first_token(self, seconds: float) -> None: ...
    def on_tokens(self, gap_seconds: float, count: int) -> None: ...
    def on_finish(self, seconds: float) -> None: ...
    def on_speculation(self, drafted: int, accepted_lengths: list[int]) -> None: ...
    def on_load(self, running: int, waiting: int) -> None: ...


@dataclass
class Request:
    request_id: str
    prompt: list[int]
    params: GenerationParams
    sink: Callable[[StepOutput], None]  # must be thread-safe (called from the engine thread)
    arrival: float = field(default_factory=time.monotonic)
    cancelled: bool = False
    stopped: set[int] = field(default_factory=set)  # choices the API layer ended (stop strings)


def choice_seed(seed: int | None, index: int) -> int | None:
    """Choice 0 uses the request's seed; the others get distinct seeds that do not collide with the
    choices of a request seeded seed + 1 (as seed + index would)."""
    if seed is None or index == 0:
        return seed
    return (seed * 0x9E3779B1 + index * 0x85EBCA77) % (1 << 63)


class Seq:
    """One choice of a request: its tokens, sampling state and not yet delivered output."""

    def __init__(self, req: Request, index: int, row: int, max_len: int):
        self.req, self.index, self.row = req, index, row
        self.params = req.params.sampling
        self.generator = make_generator(choice_seed(self.params.seed, index))
        self.constraint: Constraint | None = req.params.constraint() if req.params.constraint else None
        self.tokens = list(req.prompt)
        self.prompt_len = len(req.prompt)
        self.max_len = max_len  # prompt + max_tokens, within the context
        self.finish: str | None = None
        self.pending: list[int] = []
        self.pending_logprobs: list[TokenLogprobs] = []
        self.drafted = self.accepted = 0
        self.drafter_len = 0  # leading tokens whose drafter K/V are written (a parallel drafter's bookkeeping)
        self.last_emit = req.arrival
        self.started = False

    @property
    def dead(self) -> bool:
        return self.finish is not None or self.req.cancelled or self.index in self.req.stopped

    def append(self, token: int, logits: Tensor | None, end_id: int) -> None:
        """Take one generated token (logits [V]: the distribution it came from, read for logprobs only, so
        callers may pass None when `params.logprobs` is None); decides stop (end token) and length finishes."""
        self.tokens.append(token)
        self.pending.append(token)
        if self.constraint is not None:
            self.constraint.advance(token)
        if self.params.logprobs is not None:
            assert logits is not None
            self.pending_logprobs.append(token_logprobs(logits, token, self.params.logprobs))
        stops = token == end_id or token in self.params.stop_token_ids
        if stops and (not self.params.ignore_eos or self.constraint is not None):
            self.finish = "stop"
        elif len(self.tokens) >= self.max_len:
            self.finish = "length"


class Engine:
    def __init__(
        self,
        backend: Backend,
        *,
        end_id: int,
        max_num_seqs: int = 8,
        max_queue: int = 32,
        max_model_len: int | None = None,
        speculative: Speculative = "off",
        drafter: Backend | None = None,
        num_speculative_tokens: int | None = None,
        parallel_draft: int = 0,
        pad_id: int = 0,
        adaptive_gamma: bool = True,
        ngram_max: int = 4,
        ngram_min: int = 1,
        observer: EngineObserver | None = None,
    ):
        if speculative == "draft" and drafter is None:
            raise ValueError("speculative='draft' needs a drafter backend")
        if drafter is not None and drafter.vocab_size != backend.vocab_size:
            raise ValueError(f"drafter vocabulary {drafter.vocab_size} != worker vocabulary {backend.vocab_size}")
        self.backend, self.drafter = backend, drafter if speculative == "draft" else None
        self.end_id = end_id
        self.max_num_seqs, self.max_queue = max_num_seqs, max_queue
        limits = [backend.max_seq_len] + ([self.drafter.max_seq_len] if self.drafter else [])
        self.max_model_len = min([max_model_len or min(limits), *limits])
        self.speculative: Speculative = speculative
        # A parallel drafter guesses parallel_draft + 1 tokens in one forward: gamma defaults to all of them
        # and is capped there; otherwise it defaults to 4.
        self.parallel_draft = parallel_draft if self.drafter is not None else 0
        self.pad_id = pad_id
        guesses = self.parallel_draft + 1 if self.parallel_draft else None
        gamma = num_speculative_tokens or guesses or 4
        self.gamma = AdaptiveGamma(min(gamma, guesses or gamma), adaptive_gamma and speculative == "draft")
        self.ngram = (ngram_max, ngram_min)
        self.observer = observer or EngineObserver()
        self.running: list[Seq] = []
        self._waiting: deque[Request] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop = False
        backend.allocate(max_num_seqs, self.max_model_len)
        if self.drafter is not None:
            self.drafter.allocate(max_num_seqs, self.max_model_len)

    # ---- the API layer's side (any thread) ------------------------------------------------------

    def add_request(self, req: Request) -> None:
        n = req.params.sampling.n
        if n > self.max_num_seqs:
            raise ValueError(f"n={n} exceeds the {self.max_num_seqs} sequences this server decodes at once")
        if not 0 < len(req.prompt) < self.max_model_len:
            raise ValueError(f"prompt of {len(req.prompt)} tokens does not fit the context of {self.max_model_len}")
        with self._cond:
            if len(self._waiting) >= self.max_queue:
                raise QueueFullError(f"{len(self._waiting)} requests are waiting; retry later")
            self._waiting.append(req)
            self._cond.notify()

    def cancel(self, req: Request) -> None:
        """Stop every choice of `req`; its rows are freed at the start of the next step."""
        req.cancelled = True
        with self._cond:
            self._cond.notify()

    def finish_choice(self, req: Request, index: int) -> None:
        req.stopped.add(index)

    @property
    def num_waiting(self) -> int:
        return len(self._waiting)

    @property
    def num_running_requests(self) -> int:
        return len({id(s.req) for s in self.running})

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="engine", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._waiting and not self.running:
                    self._cond.wait()
                if self._stop:
                    return
            try:
                self.step()
            except Exception as exc:  # a bug must not hang the clients: fail what is running
                log.exception("engine step failed")
                self._fail_running(exc)

    def _fail_running(self, exc: Exception) -> None:
        for s in self.running:
            s.req.sink(StepOutput(s.index, [], finish_reason="abort", extra={"error": str(exc)}))
        self.running = []

    # ---- the engine thread ----------------------------------------------------------------------

    def step(self) -> bool:
        """Admit, advance every running sequence once, deliver; False when there was nothing to do."""
        self._reap()
        self._admit()
        self._reap()  # a choice may finish on its first token
        self.observer.on_load(self.num_running_requests, len(self._waiting))
        if not self.running:
            return False
        drafts, draft_probs = self._propose()
        self._verify(drafts, draft_probs)
        self._deliver()
        self._reap()
        self.observer.on_load(self.num_running_requests, len(self._waiting))
        if not self.running and not self._waiting:  # idle: the backends may shrink their caches
            self.backend.release()
            if self.drafter is not None:
                self.drafter.release()
        return True

    def run_until_idle(self) -> None:
        """Step in the calling thread until no request is left (tests, benchmarks)."""
        while self._waiting or self.running:
            self.step()

    def _reap(self) -> None:
        """Drop dead sequences; the last row moves into each freed row so rows stay 0..B-1."""
        i = 0
        while i < len(self.running):
            s = self.running[i]
            if not s.dead:
                i += 1
                continue
            last = self.running.pop()
            if last is not s:
                self._copy_row(last.row, i)
                last.row, self.running[i] = i, last

    def _copy_row(self, src: int, dst: int) -> None:
        self.backend.copy_row(src, dst)
        if self.drafter is not None:
            self.drafter.copy_row(src, dst)

    def _admit(self) -> None:
        while self._waiting:
            req = self._waiting[0]
            n = req.params.sampling.n
            if req.cancelled:
                self._waiting.popleft()
                continue
            if len(self.running) + n > self.max_num_seqs:
                return
            with self._cond:
                self._waiting.popleft()
            try:
                self._prefill(req)
            except Exception as exc:  # fail this request, keep serving the others
                log.exception("prefill failed")
                self.running = [s for s in self.running if s.req is not req]  # its rows were the last ones
                for j in range(n):
                    req.sink(StepOutput(j, [], finish_reason="abort", extra={"error": str(exc)}))

    @torch.inference_mode()
    def _prefill(self, req: Request) -> None:
        now = time.monotonic()
        self.observer.on_queue(now - req.arrival)
        row0, length = len(self.running), len(req.prompt)
        tokens = torch.tensor([req.prompt])
        logits = self.backend.prefill(tokens, row0)[0]
        if self.drafter is not None:
            self.drafter.prefill(tokens, row0)
        sampling = req.params.sampling
        max_len = min(self.max_model_len, length + sampling.max_tokens)
        for j in range(sampling.n):
            if j:
                self._copy_row(row0, row0 + j)
            seq = Seq(req, j, row0 + j, max_len)
            seq.drafter_len = length if self.drafter is not None else 0
            self.running.append(seq)
            self._emit_burst(seq, [], None, logits[None])
        self._deliver()

    def _gamma_limit(self) -> int:
        """Longest draft every row can use: the burst (drafts + 1) must fit each row's max_len."""
        return min(s.max_len - len(s.tokens) - 1 for s in self.running)

    @torch.inference_mode()
    def _propose(self) -> tuple[list[list[int]], list[Tensor | None] | None]:
        """Draft tokens per row (empty lists: a plain decode step) and, for the drafter, their q."""
        empty: list[list[int]] = [[] for _ in self.running]
        gamma = min(self.gamma.gamma, self._gamma_limit())
        if self.speculative == "off":
            return empty, None
        if gamma < 1:
            if self.drafter is not None and not self.parallel_draft:  # one token behind, as after a burst
                self._drafter_catch_up()
            return empty, None
        if self.speculative == "ngram":
            n_max, n_min = self.ngram
            return [ngram_propose(s.tokens, gamma, n_max, n_min) for s in self.running], None
        if self.parallel_draft:
            return self._draft_parallel(gamma)
        return self._draft_with_model(gamma)

    def _draft_parallel(self, gamma: int) -> tuple[list[list[int]], list[Tensor | None]]:
        """All gamma drafts of every row from one drafter forward (training/parallel_draft.py): each row
        feeds the tokens its drafter cache lacks, then gamma - 1 pad tokens at the next positions; the
        logits at its last real token and at the pads are its drafts. Rows are aligned by re-feeding
        tokens the drafter has already seen (identical K/V) or, for a row shorter than that, by pads
        after its own (their cache slots lie past its end, unseen and rewritten before they are read)."""
        assert self.drafter is not None
        lengths = [len(s.tokens) for s in self.running]
        fresh = max(n - s.drafter_len for n, s in zip(lengths, self.running, strict=True))
        width = fresh + gamma - 1
        starts = [max(0, n - fresh) for n in lengths]
        tokens = torch.tensor([
            (s.tokens[a:] + [self.pad_id] * width)[:width] for s, a in zip(self.running, starts, strict=True)])
        positions = torch.tensor([list(range(a, a + width)) for a in starts])
        logits = self.drafter.forward(tokens, positions)  # [B, width, V]
        lasts = [n - a - 1 for n, a in zip(lengths, starts, strict=True)]
        if len(set(lasts)) == 1:  # every row holds at least `fresh` tokens (always so with one row): a slice
            logits = logits[:, lasts[0]:lasts[0] + gamma]
        else:
            rows = torch.arange(len(lengths))[:, None]
            logits = logits[rows, torch.tensor(lasts)[:, None] + torch.arange(gamma)]  # [B, gamma, V]
        greedy = greedy_ids(logits)
        drafts: list[list[int]] = []
        probs: list[Tensor | None] = []
        for b, s in enumerate(self.running):
            s.drafter_len = lengths[b]
            if s.params.greedy:
                drafts.append(greedy[b])
                probs.append(None)
                continue
            q = torch.stack([target_probs(logits[b, j], s.params) for j in range(gamma)])
            drafts.append([sample(q[j], s.generator) for j in range(gamma)])
            probs.append(q)
        return drafts, probs

    def _drafter_catch_up(self) -> tuple[Tensor, Tensor]:
        """Feed the drafter each row's last two tokens; returns (lengths, logits [B, V] at the last).

        It re-reads the token before the last one: after a fully accepted burst it has not seen it
        yet, otherwise it rewrites an identical K/V slot."""
        assert self.drafter is not None
        lengths = torch.tensor([len(s.tokens) for s in self.running])
        tokens = torch.tensor([s.tokens[-2:] for s in self.running])
        return lengths, self.drafter.forward(tokens, torch.stack([lengths - 2, lengths - 1], 1))[:, -1]

    def _draft_with_model(self, gamma: int) -> tuple[list[list[int]], list[Tensor | None]]:
        """gamma drafter steps for all rows; q per row (None for greedy rows: q is one-hot at the draft)."""
        assert self.drafter is not None
        lengths, logits = self._drafter_catch_up()
        drafts: list[list[int]] = [[] for _ in self.running]
        probs: list[list[Tensor]] = [[] for _ in self.running]
        for i in range(gamma):
            greedy = greedy_ids(logits)
            for b, s in enumerate(self.running):
                if s.params.greedy:
                    drafts[b].append(greedy[b])
                    continue
                q = target_probs(logits[b], s.params)
                drafts[b].append(sample(q, s.generator))
                probs[b].append(q)
            if i + 1 < gamma:
                last = torch.tensor([[d[-1]] for d in drafts])
                logits = self.drafter.forward(last, (lengths + i)[:, None])[:, -1]
        return drafts, [torch.stack(p) if p else None for p in probs]

    @torch.inference_mode()
    def _verify(self, drafts: list[list[int]], draft_probs: list[Tensor | None] | None) -> None:
        """One batched target pass over [last token, drafts...] per row, then accept per row."""
        k = max(len(d) for d in drafts)
        rows = zip(self.running, drafts, strict=True)
        tokens = torch.tensor([[s.tokens[-1], *d, *[0] * (k - len(d))] for s, d in rows])
        positions = torch.tensor([list(range(len(s.tokens) - 1, len(s.tokens) + k)) for s in self.running])
        logits = self.backend.forward(tokens, positions)
        # every row's argmax in one op, when a temperature-0 row will read it
        greedy = greedy_ids(logits) if any(s.params.greedy for s in self.running) else None
        accepted_lengths = []
        for b, s in enumerate(self.running):
            q = None if draft_probs is None else draft_probs[b]
            accepted = self._emit_burst(s, drafts[b], q, logits[b], None if greedy is None else greedy[b])
            s.drafted += len(drafts[b])
            s.accepted += accepted
            if drafts[b]:
                accepted_lengths.append(accepted)
        if k:
            drafted = sum(len(d) for d in drafts)
            self.gamma.update(drafted, sum(accepted_lengths))
            self.observer.on_speculation(drafted, accepted_lengths)

    def _emit_burst(
        self, s: Seq, draft: list[int], q: Tensor | None, logits: Tensor, greedy: list[int] | None = None
    ) -> int:
        """Accept a prefix of `draft` (logits [len(draft)+1, V] are the target's, `greedy` their argmax when
        the caller has it); returns #accepted."""
        if s.params.greedy and s.constraint is None:
            if greedy is None:
                greedy = greedy_ids(logits[: len(draft) + 1])
            return self._emit_greedy(s, draft, logits, greedy)

        def p_at(i: int) -> Tensor:
            return target_probs(masked(logits[i], s.constraint), s.params)

        accepted = 0
        for i, (token, was_draft) in enumerate(speculative_tokens(draft, q, p_at, s.generator)):
            accepted += was_draft
            s.append(token, logits[i], self.end_id)
            if s.finish:
                break
        return accepted

    def _emit_greedy(self, s: Seq, draft: list[int], logits: Tensor, greedy: list[int]) -> int:
        """The temperature-0 case of `speculative_tokens` without building one-hot distributions: emit
        argmax p_i (greedy[i]) while the draft agrees, then the first disagreeing argmax (or the bonus
        token)."""
        accepted = 0
        wants_logprobs = s.params.logprobs is not None
        for i, token in enumerate(greedy[: len(draft) + 1]):
            s.append(token, logits[i] if wants_logprobs else None, self.end_id)
            agrees = i < len(draft) and token == draft[i]
            accepted += agrees
            if s.finish or not agrees:
                break
        return accepted

    def _deliver(self) -> None:
        now = time.monotonic()
        for s in self.running:
            if not s.pending and s.finish is None:
                continue
            out = StepOutput(
                s.index, s.pending, s.pending_logprobs if s.params.logprobs is not None else None,
                s.finish, s.drafted, s.accepted,
            )
            if s.pending:
                if not s.started:
                    self.observer.on_first_token(now - s.req.arrival)
                    s.started = True
                else:
                    self.observer.on_tokens(now - s.last_emit, len(s.pending))
                s.last_emit = now
            if s.finish is not None:
                self.observer.on_finish(now - s.req.arrival)
            s.pending, s.pending_logprobs, s.drafted, s.accepted = [], [], 0, 0
            s.req.sink(out)
