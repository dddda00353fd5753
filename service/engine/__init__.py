"""The generation engine: token ids in, token ids out.

`core.Engine` schedules requests over a `backend.Backend` (a model with a per-row KV cache),
batching the decode steps of concurrent requests; `sampling` and `speculative` are the pure
functions it calls; the grammar-masked decoding state is `modeling.constrained` (the evaluation's
local runner decodes through it too); `detokenize` turns a choice's tokens into text and tool-call
deltas for the API layer.
"""

from modeling.constrained import ConstraintSpec
from service.engine.params import GenerationParams, SamplingParams, StepOutput, TokenLogprobs

__all__ = ["ConstraintSpec", "GenerationParams", "SamplingParams", "StepOutput", "TokenLogprobs"]
