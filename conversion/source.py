"""The input of every exporter: a verified artifact of an exported role, loaded in fp32 on the CPU.

Checks run in order of cost, so a bad artifact fails before any conversion work: the manifest hashes
(`verify_artifact`), then the role (only worker, drafter and judge are deployed), then the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeling.checkpoint import ArtifactError, load_artifact, verify_artifact
from modeling.config import RoleConfig
from modeling.model import Transformer

EXPORTED_ROLES = ("worker", "drafter", "judge")


class ConversionError(Exception):
    """An artifact that cannot be exported, or an export that failed a check; the message says which."""


@dataclass(frozen=True)
class Source:
    path: Path
    model: Transformer
    config: RoleConfig
    manifest: dict[str, Any]

    @property
    def role(self) -> str:
        return self.config.role

    def record(self) -> dict[str, Any]:
        """What a contract says about the artifact it was exported from (to detect stale exports)."""
        return {
            "artifact": str(self.path),
            "role": self.role,
            "weights_sha256": self.manifest.get("weights_sha256"),
            "config_sha256": self.manifest.get("config_sha256"),
            "tokenizer_sha256": self.manifest.get("tokenizer_sha256"),
            "parameters": self.manifest.get("parameters"),
        }


def check_artifact(path: str | Path) -> dict[str, Any]:
    """Verify the manifest hashes and the role without loading weights; return the manifest."""
    root = Path(path)
    try:
        manifest = verify_artifact(root)
    except ArtifactError as exc:
        raise ConversionError(f"refusing to export: {exc}") from None
    role = manifest.get("role")
    if role not in EXPORTED_ROLES:
        raise ConversionError(
            f"refusing to export {root}: role {role!r} is not exported (exported roles: {', '.join(EXPORTED_ROLES)})"
        )
    return manifest


def load_source(path: str | Path) -> Source:
    root = Path(path)
    manifest = check_artifact(root)
    try:
        model, config = load_artifact(root, role=manifest["role"])
    except ArtifactError as exc:
        raise ConversionError(f"refusing to export: {exc}") from None
    return Source(root, model.float().eval(), config, manifest)
