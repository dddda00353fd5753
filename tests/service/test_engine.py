"""Engine properties on tiny random models: batching, sampling, speculative decoding, stop handling."""

from __future__ import annotations

import copy

import pytest
import torch

from service.engine.backend import TorchBackend
from service.engine.core import Engine, EngineObserver, QueueFullError, Request
from service.engine.params import GenerationParams, SamplingParams, StepOutput
from service.engine.sampling import greedy_ids, target_probs
from service.engine.speculative import AdaptiveGamma, accept_or_resample, ngram_propose, speculative_tokens
from tests.service.conftest import tiny_pair

END = 2


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def pair():
    return tiny_pair()


def prompts(count: int, seed: int = 1) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 40, (count,), generator=g).tolist()
    return [torch.randint(11, 512, (n,), generator=g).tolist() for n in lengths]


def run(engine: Engine, prompt_list: list[list[int]], **sampling) -> dict[int, list[StepOutput]]:
    outs: dict[int, list[StepOutput]] = {i: [] for i in range(len(prompt_list))}
    for i, p in enumerate(prompt_list):
        params = GenerationParams(SamplingParams(**{"seed": i, **sampling}))
        engine.add_request(Request(str(i), p, params, outs[i].append))
    engine.run_until_idle()
    return outs


def tokens(outs: dict[int, list[StepOutput]], choice: int = 0) -> dict[int, list[int]]:
    return {i: [t for o in v if o.index == choice for t in o.tokens] for i, v in outs.items()}


def make_engine(pair, speculative: str = "off", rows: int = 8, **kw) -> Engine:
    """speculative "parallel": the drafter as a parallel drafter (three pads after the last real token)."""
    (worker, _), (drafter, _) = pair
    kw.setdefault("max_queue", 64)
    if speculative == "parallel":
        speculative = "draft"
        kw.setdefault("parallel_draft", 3)
    return Engine(TorchBackend(worker), end_id=END, max_num_seqs=rows, speculative=speculative,
                  drafter=TorchBackend(drafter) if speculative == "draft" else None, **kw)


def test_batched_decoding_equals_one_at_a_time(pair) -> None:
    """Continuous batching (8 rows, requests of unequal length joining and leaving) changes no token."""
    ps = prompts(12)
    alone = tokens(run(make_engine(pair, rows=1), ps, temperature=0.0, max_tokens=24, ignore_eos=True))
    batched = tokens(run(make_engine(pair, rows=8), ps, temperature=0.0, max_tokens=24, ignore_eos=True))
    assert batched == alone
    assert all(len(v) == 24 for v in alone.values())


@pytest.mark.parametrize("method", ["draft", "parallel", "ngram"])
def test_speculative_greedy_is_identical_to_plain(pair, method: str) -> None:
    """Temperature 0: speculative output equals plain greedy output for 50 prompts x 64 tokens (and
    for prompts of one and two tokens, which a parallel drafter's batch pads past their end)."""
    ps = [*prompts(50, seed=3), [7], [8, 9]]
    plain = tokens(run(make_engine(pair), ps, temperature=0.0, max_tokens=64, ignore_eos=True))
    outs = run(make_engine(pair, method, num_speculative_tokens=4), ps, temperature=0.0, max_tokens=64,
               ignore_eos=True)
    assert tokens(outs) == plain
    drafted = sum(o.drafted for v in outs.values() for o in v)
    accepted = sum(o.accepted for v in outs.values() for o in v)
    assert drafted > 0 and 0 < accepted <= drafted
    assert max(len(o.tokens) for v in outs.values() for o in v) > 1  # bursts happened


@pytest.mark.parametrize("method", ["draft", "parallel"])
def test_speculative_stops_inside_a_burst(pair, method: str) -> None:
    """max_tokens is exact even when a burst could emit more; the end token ends a burst."""
    ps = prompts(10, seed=4)
    for max_tokens in (1, 2, 5, 7):
        outs = tokens(run(make_engine(pair, method), ps, temperature=0.0, max_tokens=max_tokens, ignore_eos=True))
        assert all(len(v) == max_tokens for v in outs.values())
    stop_outs = run(make_engine(pair, method), ps, temperature=0.9, max_tokens=40, stop_token_ids=(300, 301, 302))
    for v in stop_outs.values():
        toks = [t for o in v for t in o.tokens]
        assert all(t not in (300, 301, 302, END) for t in toks[:-1])
        assert v[-1].finish_reason in ("stop", "length")


def test_seed_reproducible_and_n_choices_differ(pair) -> None:
    """The same seed gives the same sample; the n choices of one request are different draws."""
    ps = prompts(3, seed=5)
    a = run(make_engine(pair, "draft"), ps, temperature=1.0, max_tokens=16, n=2, ignore_eos=True)
    b = run(make_engine(pair, "draft"), ps, temperature=1.0, max_tokens=16, n=2, ignore_eos=True)
    assert tokens(a, 0) == tokens(b, 0) and tokens(a, 1) == tokens(b, 1)
    assert tokens(a, 0) != tokens(a, 1)


def test_logprobs_shapes(pair) -> None:
    """One entry per generated token, with the requested number of alternatives, all <= 0."""
    outs = run(make_engine(pair), prompts(2), temperature=0.0, max_tokens=6, logprobs=3, ignore_eos=True)
    for v in outs.values():
        entries = [e for o in v for e in o.logprobs]
        assert len(entries) == 6
        for e in entries:
            assert len(e.top) == 3 and e.logprob <= 0 and e.top[0][1] >= e.logprob - 1e-6


def test_queue_bound_and_cancel(pair) -> None:
    """A full queue refuses; a cancelled request leaves the batch at the next step."""
    engine = make_engine(pair, rows=1, max_queue=1)
    sink: list[StepOutput] = []
    params = GenerationParams(SamplingParams(temperature=0.0, max_tokens=50, ignore_eos=True))
    first = Request("a", [5, 6, 7], params, sink.append)
    engine.add_request(first)
    engine.step()
    engine.add_request(Request("b", [5, 6], params, sink.append))
    with pytest.raises(QueueFullError):
        engine.add_request(Request("c", [5], params, sink.append))
    engine.cancel(first)
    engine.step()
    assert [s.req.request_id for s in engine.running] == ["b"]


def test_ngram_proposal() -> None:
    """Prompt lookup proposes what followed the latest earlier match of the longest suffix."""
    assert ngram_propose([1, 2, 3, 4, 9, 1, 2, 3], 3) == [4, 9, 1]
    assert ngram_propose([5, 6, 7], 2) == []
    assert ngram_propose([1, 2, 1, 3, 1], 2, n_max=1) == [3, 1]


def _ngram_reference(tokens: list[int], k: int, n_max: int, n_min: int) -> list[int]:
    for n in range(min(n_max, len(tokens) - 1), n_min - 1, -1):
        for start in range(len(tokens) - n - 1, -1, -1):
            if tokens[start:start + n] == tokens[len(tokens) - n:]:
                return tokens[start + n:start + n + k]
    return []


def test_ngram_proposal_matches_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        toks = torch.randint(0, 4, (int(torch.randint(1, 30, (1,), generator=g)),), generator=g).tolist()
        for n_max, n_min in ((4, 1), (3, 2), (1, 1)):
            assert ngram_propose(toks, 3, n_max, n_min) == _ngram_reference(toks, 3, n_max, n_min), toks


def test_adaptive_gamma_follows_acceptance() -> None:
    gamma = AdaptiveGamma(6)
    for _ in range(10):
        gamma.update(6, 0)
    assert gamma.gamma == 1
    for _ in range(20):
        gamma.update(4, 4)
    assert gamma.gamma == 6


def test_greedy_ids_equal_torch_argmax() -> None:
    """The engine's argmax (numpy for CPU float32) agrees with torch's: first of tied maxima, strided views
    (a drafter's logits sliced per row), a [B, V] step and other dtypes (torch's own)."""
    g = torch.Generator().manual_seed(3)
    logits = torch.randint(0, 4, (3, 20, 64), generator=g).float()  # many ties
    for view in (logits, logits[:, 5:17], logits[:, -1], logits[0], logits.transpose(0, 1)):
        assert greedy_ids(view) == view.argmax(-1).tolist()
    half = logits.to(torch.bfloat16)
    assert greedy_ids(half) == half.argmax(-1).tolist()


def test_greedy_acceptance_is_equality() -> None:
    """With one-hot p and q, a draft is accepted iff it is argmax p, else argmax p is emitted."""
    g = torch.Generator().manual_seed(0)
    p, q = torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 0.0, 1.0])
    assert accept_or_resample(2, q, p, g) == (1, False)
    assert accept_or_resample(1, torch.tensor([0.0, 1.0, 0.0]), p, g) == (1, True)
    assert list(speculative_tokens([1, 1], None, lambda i: p, g)) == [(1, True), (1, True), (1, False)]


# ---- chi-square: speculative sampling is distributed as plain sampling (temperature 1) ---------------

def _chi_square_p(observed: torch.Tensor, expected_probs: torch.Tensor) -> float:
    """Goodness of fit; cells expected below 5 draws are pooled into one."""
    n = observed.sum()
    expected = expected_probs * n
    small = expected < 5
    obs = torch.cat([observed[~small], observed[small].sum()[None]])
    exp = torch.cat([expected[~small], expected[small].sum()[None]])
    keep = exp > 0
    stat = (((obs - exp) ** 2) / exp)[keep].sum()
    df = int(keep.sum()) - 1
    return float(torch.special.gammaincc(torch.tensor(df / 2.0), stat / 2.0))


class _Dists:
    """Memoized next-token distributions of a model after `context + prefix` (temperature 1)."""

    def __init__(self, model, context: list[int], params: SamplingParams):
        self.model, self.context, self.params, self.memo = model, context, params, {}

    @torch.inference_mode()
    def __call__(self, prefix: list[int]) -> torch.Tensor:
        key = tuple(prefix)
        if key not in self.memo:
            logits = self.model(torch.tensor([self.context + list(prefix)]))[0, -1]
            self.memo[key] = target_probs(logits, self.params)
        return self.memo[key]


def _first_two(p, q, gamma: int, g: torch.Generator, ngram: list[int] | None) -> tuple[int, int]:
    """Run speculative bursts (drafter q, or a fixed n-gram draft) until two tokens are out."""
    out: list[int] = []
    while len(out) < 2:
        base = list(out)
        if ngram is not None:
            draft, qs = ngram[:gamma], None
        else:
            draft, dists = [], []
            for _ in range(gamma):
                dist = q(base + draft)
                draft.append(int(torch.multinomial(dist, 1, generator=g)))
                dists.append(dist)
            qs = torch.stack(dists)
        for token, _ in speculative_tokens(draft, qs, lambda i, b=base, d=draft: p(b + d[:i]), g):
            out.append(token)
            if len(out) == 2:
                break
    return out[0], out[1]


@pytest.mark.parametrize("method", ["draft", "ngram"])
def test_speculative_sampling_matches_plain_sampling_chi_square(method: str) -> None:
    """20k draws of the first two tokens over a 16-token vocabulary: speculative sampling (T=1, with
    top-k and min-p active) is indistinguishable from the target's own joint distribution (p > 0.01),
    while drafting alone is clearly not."""
    vocab = 16
    (worker, _), _ = tiny_pair(vocab_size=vocab, seed=11, head_scale=3.0)
    (drafter, _), _ = tiny_pair(vocab_size=vocab, seed=12, head_scale=3.0)
    params = SamplingParams(temperature=1.0, top_k=12, min_p=0.01)
    context = [1, 5, 9, 3]
    p, q = _Dists(worker, context, params), _Dists(drafter, context, params)
    exact = torch.stack([p([])[a] * p([a]) for a in range(vocab)]).flatten()  # P(first=a, second=b)
    g = torch.Generator().manual_seed(2024)
    draws = 20_000
    counts = torch.zeros(vocab * vocab)
    for _ in range(draws):
        a, b = _first_two(p, q, 3, g, [4, 7, 7] if method == "ngram" else None)
        counts[a * vocab + b] += 1
    assert _chi_square_p(counts, exact) > 0.01
    if method == "draft":  # power check: the drafter's own distribution is rejected
        drafter_joint = torch.stack([q([])[a] * q([a]) for a in range(vocab)]).flatten()
        assert _chi_square_p(counts, drafter_joint) < 1e-6


@pytest.mark.parametrize("parallel_draft", [0, 1])
def test_engine_speculative_sampling_matches_target_distribution(parallel_draft: int) -> None:
    """End to end through the engine (KV caches, batched rows, the drafter's q): at T=1 the first two
    tokens of 4,000 speculative samples fit the worker's own joint distribution (p > 0.01); also when
    the second draft is a parallel drafter's guess from a pad, which never saw the first draft."""
    vocab = 16
    (worker, _), _ = tiny_pair(vocab_size=vocab, seed=21, head_scale=3.0)
    (drafter, _), _ = tiny_pair(vocab_size=vocab, seed=22, head_scale=3.0)
    params = SamplingParams(temperature=1.0, max_tokens=4, n=8, ignore_eos=True)
    context = [1, 4, 9]
    p = _Dists(worker, context, params)
    exact = torch.stack([p([])[a] * p([a]) for a in range(vocab)]).flatten()
    engine = Engine(TorchBackend(worker), end_id=END, max_num_seqs=8, max_queue=1000, speculative="draft",
                    drafter=TorchBackend(drafter), num_speculative_tokens=2, adaptive_gamma=False,
                    parallel_draft=parallel_draft)
    samples: dict[tuple[int, int], list[int]] = {}
    for r in range(500):
        engine.add_request(Request(str(r), context, GenerationParams(
            SamplingParams(**{**params.__dict__, "seed": 1000 + r})), lambda o, r=r: samples.setdefault(
                (r, o.index), []).extend(o.tokens)))
    engine.run_until_idle()
    counts = torch.zeros(vocab * vocab)
    for toks in samples.values():
        counts[toks[0] * vocab + toks[1]] += 1
    assert counts.sum() == 4000
    assert _chi_square_p(counts, exact) > 0.01


def test_parallel_drafter_cache_follows_the_sequence(pair) -> None:
    """The worker as its own parallel drafter: its first guess of every burst is the worker's own next
    token, so every burst accepts at least one draft, in batched rows of unequal length and through
    rows moving when others finish. A stale or misplaced drafter cache entry would break that."""
    (worker, _), _ = pair
    bursts: list[int] = []

    class Record(EngineObserver):
        def on_speculation(self, drafted: int, accepted_lengths: list[int]) -> None:
            bursts.extend(accepted_lengths)

    engine = Engine(TorchBackend(worker), end_id=END, max_num_seqs=4, max_queue=64, speculative="draft",
                    drafter=TorchBackend(copy.deepcopy(worker)), parallel_draft=3, observer=Record())
    ps = [*prompts(12, seed=9), [7]]
    outs = run(engine, ps, temperature=0.0, max_tokens=30)
    assert tokens(outs) == tokens(run(make_engine(pair), ps, temperature=0.0, max_tokens=30))
    assert len(bursts) > 50 and min(bursts) >= 1
