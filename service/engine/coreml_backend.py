"""Core ML backend (macOS 15+): the stateful `step_<S>` functions of `kimi-student export coreml`.

- One Core ML state per cache row (`make_state()`): the KV cache of a row lives in the model's states,
  fp16 [1, Hkv, S, Dh] per layer and K/V (`conversion.coreml_export`).
- `allocate` picks the smallest function whose row capacity S - STEP_TOKENS + 1 covers seq_len; a step
  writes STEP_TOKENS slots, so a row's last real token must leave room for the pad slots after it.
- `forward` runs each row on its own state, STEP_TOKENS consecutive positions per call: the last chunk
  is padded with the pad token at the positions that follow, which the causal mask hides and the next
  step overwrites (the same rule as the torch cache). Cost: one `predict` per row per 8 tokens.
- `copy_row` copies every state tensor (`MLState.read_state` / `write_state`).
- Importing this module needs neither macOS nor coremltools; `from_export` refuses without them.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from conversion.contracts import check_export
from conversion.coreml_export import PACKAGE, STEP_TOKENS
from conversion.probes import can_predict_coreml

SERVED_ROLES = ("worker", "drafter")  # the stateful step packages; the judge's package only scores
COMPUTE_UNITS = "ALL"  # ct.ComputeUnit name: ALL, CPU_AND_NE, CPU_AND_GPU, CPU_ONLY


class CoreMLUnavailableError(RuntimeError):
    """This machine cannot run Core ML stateful models (not macOS 15+, or coremltools missing or too old)."""


class StepFunction(Protocol):
    """One loaded function of the package: `coremltools.models.MLModel(package, function_name=...)`."""

    def make_state(self) -> Any: ...

    def predict(self, data: dict[str, np.ndarray], state: Any = None) -> dict[str, Any]: ...


def runtime_problem() -> str | None:
    """Why the Core ML backend cannot run here, or None when it can."""
    if not can_predict_coreml():
        here = f"macOS {platform.mac_ver()[0]}" if sys.platform == "darwin" else f"{platform.system()} ({sys.platform})"
        return f"the coreml backend needs macOS 15+ (Core ML stateful prediction); this machine runs {here}"
    try:
        import coremltools
    except ImportError as exc:
        return f"the coreml backend needs coremltools (pip install 'kimi-student[coreml]'): {exc}"
    state = getattr(coremltools.models.model, "MLState", None)
    if not (hasattr(state, "read_state") and hasattr(state, "write_state")):
        return (f"coremltools {coremltools.__version__} has no MLState.read_state/write_state "
                "(needed to copy cache rows); install the version of the coreml extra")
    return None


def load_function(package: Path, slots: int, compute_units: str = COMPUTE_UNITS) -> StepFunction:
    import coremltools as ct

    return ct.models.MLModel(str(package), function_name=f"step_{slots}",
                             compute_units=getattr(ct.ComputeUnit, compute_units))


class CoreMLBackend:
    """The Backend protocol over per-row Core ML states; `load(S)` gives the function `step_<S>`."""

    def __init__(self, load: Callable[[int], StepFunction], lengths: Sequence[int], state_names: Sequence[str],
                 vocab_size: int, pad_id: int, step_tokens: int = STEP_TOKENS):
        self.load, self.lengths, self.state_names = load, sorted(lengths), list(state_names)
        self.vocab_size, self.pad_id, self.step = vocab_size, pad_id, step_tokens
        self.max_seq_len = self.capacity(self.lengths[-1])
        self.function: StepFunction | None = None
        self.slots = 0
        self.states: list[Any] = []
        self._loaded: dict[int, StepFunction] = {}

    @classmethod
    def from_export(cls, export_dir: str | Path, manifest: dict[str, Any],
                    compute_units: str = COMPUTE_UNITS) -> CoreMLBackend:
        contract = check_export(export_dir, manifest, "coreml")
        problem = runtime_problem()
        if problem:
            raise CoreMLUnavailableError(problem)
        functions = contract["functions"]
        if not all(name.startswith("step_") for name in functions):
            raise ValueError(f"{export_dir} is not a stateful step package (functions {sorted(functions)})")
        package = Path(export_dir) / contract.get("package", PACKAGE)
        first = next(iter(functions.values()))
        return cls(lambda slots: load_function(package, slots, compute_units),
                   [int(name.removeprefix("step_")) for name in functions],
                   [s["name"] for s in first["states"]], contract["model"]["vocab_size"],
                   contract["model"]["pad_token_id"], contract["step_tokens"])

    def capacity(self, slots: int) -> int:
        """Real tokens a row of `slots` slots holds: its last step still writes step_tokens slots."""
        return slots - self.step + 1

    def allocate(self, rows: int, seq_len: int) -> None:
        fitting = [s for s in self.lengths if self.capacity(s) >= seq_len]
        if not fitting:
            raise ValueError(f"max_seq_len {seq_len} exceeds the Core ML rows' capacity {self.max_seq_len} "
                             f"(step_{self.lengths[-1]}: {self.lengths[-1]} slots - {self.step} + 1)")
        if len(self.states) >= rows and self.capacity(self.slots) >= seq_len:
            return
        self.slots = fitting[0]
        if self.slots not in self._loaded:
            self._loaded[self.slots] = self.load(self.slots)
        self.function = self._loaded[self.slots]
        self.states = [self.function.make_state() for _ in range(rows)]

    def _run_row(self, row: int, tokens: list[int], start: int) -> np.ndarray:
        """Logits [len(tokens), V] of tokens at start, start+1, ... through row `row`'s state."""
        capacity = self.capacity(self.slots)
        if start + len(tokens) > capacity:
            raise ValueError(f"position {start + len(tokens) - 1} does not fit step_{self.slots}: a row holds "
                             f"{capacity} tokens (positions 0..{capacity - 1})")
        if self.function is None:
            raise RuntimeError("allocate() the rows before running them")
        out = []
        for offset in range(0, len(tokens), self.step):
            chunk = tokens[offset:offset + self.step]
            padded = np.full((1, self.step), self.pad_id, dtype=np.int32)
            padded[0, :len(chunk)] = chunk
            positions = np.arange(start + offset, start + offset + self.step, dtype=np.int32)
            result = self.function.predict({"tokens": padded, "positions": positions}, state=self.states[row])
            out.append(np.asarray(result["logits"], dtype=np.float32)[0, :len(chunk)])
        return np.concatenate(out)

    def forward(self, tokens: Tensor, positions: Tensor, row0: int = 0) -> Tensor:
        """tokens, positions [B, T], each row at consecutive positions -> logits [B, T, V] float32."""
        rows = []
        for b in range(tokens.shape[0]):
            start = int(positions[b, 0])
            if not torch.equal(positions[b].long().cpu(), torch.arange(start, start + tokens.shape[1])):
                raise ValueError(f"the coreml backend needs consecutive positions per row, got {positions[b].tolist()}")
            rows.append(self._run_row(row0 + b, tokens[b].tolist(), start))
        return torch.from_numpy(np.stack(rows))

    def prefill(self, tokens: Tensor, row0: int) -> Tensor:
        return torch.from_numpy(self._run_row(row0, tokens[0].tolist(), 0)[-1:])

    def copy_row(self, src: int, dst: int) -> None:
        source, target = self.states[src], self.states[dst]
        for name in self.state_names:
            target.write_state(name, source.read_state(name))

    def release(self) -> None:
        """The rows' states stay: each is the fixed-size cache of its step function."""
