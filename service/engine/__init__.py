"""The generation engine: token ids in, token ids out.

`core.Engine` schedules requests over a `backend.Backend` (a model with a per-row KV cache),
batching the decode steps of concurrent requests; `sampling` and `speculative` are the pure
functions it calls; `constrained` holds the grammar-masked decoding state; `detokenize` turns a
choice's tokens into text and tool-call deltas for the API layer.
"""

from service.engine.params import ConstraintSpec, GenerationParams, SamplingParams, StepOutput, TokenLogprobs

__all__ = ["ConstraintSpec", "GenerationParams", "SamplingParams", "StepOutput", "TokenLogprobs"]
