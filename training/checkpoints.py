"""Training checkpoints: artifact directories (`step-000100/`) plus `trainer_state.pt`.

The state holds the optimizer, the step, the dataset fingerprint and the metric history; batches
are a pure function of (seed, step), so these are all a resumed run needs to continue exactly where
the interrupted one was. Every file is hashed in the checkpoint's manifest, so a corrupt checkpoint
is refused before training starts. Retention keeps the last `keep_last` plus the `milestones`.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import torch

from modeling.checkpoint import ArtifactError, load_artifact, save_artifact
from modeling.config import RoleConfig
from modeling.model import Transformer

STATE = "trainer_state.pt"
_STEP_DIR = re.compile(r"^step-(\d{6})$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed (corrupt, or trained on other data)."""


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _STEP_DIR.match(p.name))]
    return sorted(found)


def save(directory: Path, model: Transformer, optimizer: torch.optim.Optimizer, cfg: RoleConfig, step: int,
         fingerprint: str, history: dict[str, list[dict[str, Any]]]) -> Path:
    state = {"step": step, "optimizer": optimizer.state_dict(), "dataset_fingerprint": fingerprint,
             "history": history}
    path = save_artifact(directory / f"step-{step:06d}", model, cfg, dataset_fingerprint=fingerprint,
                         write_extra=lambda tmp: torch.save(state, tmp / STATE))
    _retain(directory, cfg.training.keep_last, set(cfg.training.milestones))
    return path


def _retain(directory: Path, keep_last: int, milestones: set[int]) -> None:
    found = list_checkpoints(directory)
    for step, path in found[:-keep_last]:
        if step not in milestones:
            shutil.rmtree(path)


def restore(directory: Path, model: Transformer, optimizer: torch.optim.Optimizer, fingerprint: str,
            force: bool, history: dict[str, list[dict[str, Any]]]) -> int:
    """Load the latest checkpoint into `model`/`optimizer`/`history`; returns its step (0 if none)."""
    found = list_checkpoints(directory)
    if not found:
        return 0
    step, path = found[-1]
    try:
        saved, _ = load_artifact(path)
        state = torch.load(path / STATE, weights_only=True)
    except (ArtifactError, OSError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: cannot resume from this checkpoint ({exc}); delete it to start over") from None
    if saved.config != model.config:
        raise CheckpointError(f"{path}: checkpoint was trained with another model config")
    if state["dataset_fingerprint"] != fingerprint and not force:
        raise CheckpointError(f"{path}: checkpoint was trained on another dataset "
                              f"(fingerprint {state['dataset_fingerprint'][:12]}… vs {fingerprint[:12]}…); "
                              "pass --force to continue on the new data")
    model.load_state_dict(saved.state_dict())
    optimizer.load_state_dict(state["optimizer"])
    history.update(state["history"])
    history["train"] = [h for h in history["train"] if h["step"] <= step]
    return step
