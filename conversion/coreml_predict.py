"""Core ML predictions against torch (macOS 15+ only: coremltools cannot predict elsewhere).

Stateful packages: a prompt runs through each `step_<S>` function in STEP_TOKENS chunks (the last one
padded), then one decode step, with one state per function; every real position's logits are compared
with the torch model's. Judge: a right-padded input of the smallest enumerated length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from conversion.probes import cosine, relative_error
from modeling.checkpoint import load_artifact

PROMPT_TOKENS = 21


def _prompt(vocab_size: int) -> np.ndarray:
    return np.random.default_rng(0).integers(3, vocab_size, PROMPT_TOKENS).astype(np.int32)


def _stateful(mlmodel: Any, tokens: np.ndarray, step: int, pad: int) -> np.ndarray:
    """Logits [len(tokens), V] from running `tokens` through one state in chunks of `step`."""
    state = mlmodel.make_state()
    out = []
    for start in range(0, len(tokens), step):
        chunk = tokens[start:start + step]
        padded = np.full(step, pad, dtype=np.int32)
        padded[: len(chunk)] = chunk
        positions = np.arange(start, start + step, dtype=np.int32)
        result = mlmodel.predict({"tokens": padded[None], "positions": positions}, state=state)
        out.append(np.asarray(result["logits"], dtype=np.float32)[0, : len(chunk)])
    return np.concatenate(out)


def prediction_parity(root: Path, contract: dict[str, Any], artifact: Path) -> dict[str, dict[str, float]]:
    import coremltools as ct

    model, config = load_artifact(artifact)
    package = str(root / contract["package"])
    prompt = _prompt(config.model.vocab_size)
    results: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        if config.role == "judge":
            mlmodel = ct.models.MLModel(package, compute_units=ct.ComputeUnit.CPU_ONLY)
            width = contract["functions"]["main"]["inputs"][0]["shape"][1][0]
            ids = np.full((1, width), config.model.pad_token_id, dtype=np.int32)
            ids[0, :PROMPT_TOKENS] = prompt
            got = mlmodel.predict({"input_ids": ids, "length": np.array([PROMPT_TOKENS], dtype=np.int32)})
            score, clause = model.judge(torch.from_numpy(prompt[None]).long())
            actual = np.concatenate([np.ravel(got["score"]), np.ravel(got["clause_logits"])]).astype(np.float32)
            expected = torch.cat([score, clause[0]]).numpy()
            return {"main": {"rel_error": relative_error(actual, expected), "cosine": cosine(actual, expected)}}
        expected = model(torch.from_numpy(prompt[None]).long())[0].numpy()
        for name in contract["functions"]:
            mlmodel = ct.models.MLModel(package, function_name=name, compute_units=ct.ComputeUnit.CPU_ONLY)
            actual = _stateful(mlmodel, prompt, contract["step_tokens"], config.model.pad_token_id)
            results[name] = {"rel_error": relative_error(actual, expected), "cosine": cosine(actual, expected)}
    return results
