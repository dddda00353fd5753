"""Local checkpoint teacher (`local:DIR`): our own model code over an artifact directory.

It gives full logits, so it can do what an API cannot: score given text teacher-forced (`topk`),
many sequences per forward, the LM head applied only at the positions that are targets.
`generate_batch` writes assistant turns at a temperature (0 = greedy), many per decode loop, with the KV cache.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from modeling.checkpoint import load_artifact
from modeling.generate import generate_batch
from modeling.model import WIDTH_BUCKET, bucket
from modeling.precision import effective_dtype
from modeling.tokenizer import KSTokenizer, TokenizerError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def round_logprobs(values: torch.Tensor, decimals: int = 4) -> list[list[float]]:
    """Short JSON: logprobs rounded in float64, so 1e-4 steps print as e.g. -1.2345."""
    scale = 10.0 ** decimals
    return (torch.round(values.double() * scale) / scale).tolist()


class LocalTeacher:
    kind = "local"

    def __init__(self, directory: str | os.PathLike[str], *, device: str = "cpu", dtype: str = "float32"):
        """`dtype` bfloat16 roughly halves the CPU time of forced capture where the CPU has bf16 matrix
        units (elsewhere the teacher runs in float32: modeling.precision); the stored distributions
        then differ from float32 by about 1e-2 nats. `self.dtype` is the dtype used."""
        if dtype not in DTYPES:
            raise ValueError(f"teacher dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
        self.dir = Path(directory)
        self.dtype = dtype = effective_dtype(dtype, device)
        self.model, self.config = load_artifact(self.dir, device=device, dtype=DTYPES[dtype])
        try:
            self.tokenizer = KSTokenizer.load(self.dir)
        except TokenizerError as exc:
            raise TokenizerError(f"teacher artifact {self.dir}: {exc}") from None
        self.device = device
        self.end_id = self.tokenizer.end_id

    @property
    def spec(self) -> str:
        return f"local:{self.dir}"

    @property
    def tokenizer_sha256(self) -> str | None:
        return self.tokenizer.sha256

    @property
    def max_seq_len(self) -> int:
        return self.model.config.max_seq_len

    @torch.inference_mode()
    def topk(self, sequences: Sequence[Sequence[int]], targets: Sequence[Sequence[tuple[int, int]]], k: int,
             temperature: float = 1.0) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
        """Teacher-forced top-k for many sequences in one forward.

        `targets[b]` lists half-open token ranges [s, e) of sequence b (s >= 1); the result has, per
        sequence and range, (ids [e-s, k], logprobs [e-s, k]) where row j is the distribution over
        token s+j given tokens 0..s+j-1, at `temperature`. Right padding never changes the real
        positions (the mask is causal), so no attention mask is needed. The width is rounded up to
        WIDTH_BUCKET, and the last block runs at the target positions only (`Transformer.forward`'s
        `logits_at`).
        """
        width = bucket(max(len(s) for s in sequences), WIDTH_BUCKET)
        x = torch.full((len(sequences), width), self.tokenizer.pad_id, dtype=torch.long)
        rows, cols, bounds = [], [], []
        for b, seq in enumerate(sequences):
            x[b, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
            for s, e in targets[b]:
                if not 1 <= s <= e <= len(seq):
                    raise ValueError(f"target range [{s}, {e}) outside a sequence of {len(seq)} tokens")
                bounds.append((len(rows), len(rows) + e - s))
                rows += [b] * (e - s)
                cols += range(s - 1, e - 1)
        at = torch.zeros(x.shape, dtype=torch.bool)
        flat = torch.as_tensor(rows, dtype=torch.long) * width + torch.as_tensor(cols, dtype=torch.long)
        at.view(-1)[flat] = True
        picked = self.model(x.to(self.device), logits_at=at.to(self.device))[0]  # row-major order of `at`
        logits = picked[(at.view(-1).cumsum(0) - 1)[flat].to(self.device)].float()
        logp = torch.log_softmax(logits / temperature, dim=-1)
        values, ids = torch.topk(logp, min(k, logp.shape[-1]), dim=-1)
        values, ids = values.cpu(), ids.cpu()
        out: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
        it = iter(bounds)
        for ranges in targets:
            per = []
            for _ in ranges:
                a, z = next(it)
                per.append((ids[a:z], values[a:z]))
            out.append(per)
        return out

    def generate_batch(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float = 1.0,
                       seeds: Sequence[int] | None = None) -> list[tuple[list[int], bool]]:
        """Per prompt, (generated ids without the end token, whether the end token was reached): greedy
        at temperature 0, else sampled with a generator seeded by seeds[i]; one decode loop for all."""
        threads = torch.get_num_threads()
        if len(prompts) == 1:
            torch.set_num_threads(1)  # one-token steps of one row: more threads only spin-wait
        try:
            results = generate_batch(self.model, prompts, max_new_tokens, {self.end_id}, temperature,
                                     seeds if temperature > 0 else None)
        finally:
            torch.set_num_threads(threads)
        return [(ids, stop is not None) for ids, stop in results]


def item_seed(item_id: str) -> int:
    """A stable per-item seed, so sampling the same item again gives the same turn."""
    return int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16)

