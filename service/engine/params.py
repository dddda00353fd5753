"""Engine-side request types: what one request asks for and what one step gives back.

These are the only types the API layer and the engine share (`to_generation_params()` builds them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from modeling.constrained import Constraint

GREEDY_EPS = 1e-5  # temperatures at or below this mean argmax


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = no top-k cut
    min_p: float = 0.0
    seed: int | None = None
    max_tokens: int = 16
    n: int = 1
    stop_token_ids: tuple[int, ...] = ()  # besides the end-of-turn token
    ignore_eos: bool = False
    logprobs: int | None = None  # None: no logprobs; k: the chosen token's and the top k

    @property
    def greedy(self) -> bool:
        return self.temperature <= GREEDY_EPS


@dataclass(frozen=True)
class GenerationParams:
    sampling: SamplingParams
    # Builds a fresh per-choice constraint state (compiled once per request by the engine's grammars).
    constraint: Callable[[], Constraint] | None = None


@dataclass(frozen=True)
class TokenLogprobs:
    token: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()  # (token id, logprob), best first


@dataclass
class StepOutput:
    """New tokens of one choice from one engine step (several with speculative decoding)."""

    index: int  # choice index
    tokens: list[int]
    logprobs: list[TokenLogprobs] | None = None
    finish_reason: Literal["stop", "length", "abort"] | None = None
    drafted: int = 0  # draft tokens proposed for this choice in this step
    accepted: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # {"error": message} when the engine failed
