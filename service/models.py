"""The served models: one engine per role found under the artifacts directory.

`ModelSet.check()` runs before the server accepts connections (cheap: manifests only) and refuses to
start on a broken setup, such as a Worker and Drafter with different tokenizers. `load()` builds the
engines (in a background thread by default, so /health answers and /ready says 503 meanwhile).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeling.chat import SPECIAL_TOKENS
from modeling.checkpoint import read_role_config
from modeling.constrained import Grammars
from modeling.tokenizer import KSTokenizer
from service.engine.backend import Backend, TorchBackend
from service.engine.core import Engine
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger(__name__)

ALIAS_PREFIX = "kimi-student-"  # "kimi-student-worker" names the worker too


class SetupError(Exception):
    """The artifacts cannot be served as configured; the server refuses to start."""


@dataclass
class ServedModel:
    name: str
    engine: Engine
    tokenizer: KSTokenizer
    grammars: Grammars
    special_ids: dict[str, int]
    manifest: dict[str, Any]
    created: int


def read_manifest(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "manifest.json").read_text())


def require_export(settings: Settings, role: str) -> None:
    """SetupError, naming the command to run, unless the role's export for its backend (onnx, coreml)
    exists and was made from the artifact's weights."""
    from conversion.contracts import StaleExportError, check_export

    name, artifact = settings.backend_for(role), settings.artifacts / role
    try:
        check_export(settings.export_dir(role, name), read_manifest(artifact), name)
    except StaleExportError as exc:
        raise SetupError(f"--backend {name} ({role}): {exc}; run `kimi-student export {name} --artifact {artifact} "
                         f"--out {settings.export_dir(role, name)}`") from None


class ModelSet:
    def __init__(self, settings: Settings, metrics: Metrics):
        self.settings, self.metrics = settings, metrics
        root = settings.artifacts
        self.roles = [r for r in settings.models if (root / r / "manifest.json").is_file()]
        self.speculative = settings.speculative
        self.models: dict[str, ServedModel] = {}
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    def check(self) -> None:
        """Fail fast: no servable artifact, a drafter whose tokenizer differs from the worker's, (for a role
        on the onnx or coreml backend) a missing or stale export, or coreml off macOS 15+."""
        root = self.settings.artifacts
        if not self.roles and self.settings.models:  # KS_MODELS= (empty): the CAWS endpoints only
            raise SetupError(f"no model artifacts under {root}/ (looked for {self.settings.models}); "
                             "run `kimi-student bootstrap --profile toy` first")
        self._check_drafter()
        self._check_exports()

    def _check_exports(self) -> None:
        from conversion.source import EXPORTED_ROLES
        from service.engine import coreml_backend

        backend_for = self.settings.backend_for
        servable = {"onnx": EXPORTED_ROLES, "coreml": coreml_backend.SERVED_ROLES}
        for name, roles in servable.items():
            skipped = [r for r in self.roles if backend_for(r) == name and r not in roles]
            if skipped:
                log.warning("--backend %s: not serving %s (not exported for it)", name, skipped)
                self.roles = [r for r in self.roles if r not in skipped]
        speculating = self.speculative == "draft" and "worker" in self.roles
        needed = self.roles + (["drafter"] if speculating and "drafter" not in self.roles else [])
        coreml = [r for r in needed if backend_for(r) == "coreml"]
        if coreml and (problem := coreml_backend.runtime_problem()):
            raise SetupError(f"--backend coreml ({', '.join(coreml)}): {problem}")
        for role in needed:
            if backend_for(role) in servable:
                require_export(self.settings, role)

    def backend(self, role: str) -> Backend:
        root, name = self.settings.artifacts, self.settings.backend_for(role)
        if name == "onnx":
            from service.engine.onnx_backend import OnnxBackend

            return OnnxBackend.from_export(self.settings.export_dir(role, name), read_manifest(root / role),
                                           self.settings.torch_threads)
        if name == "coreml":
            from service.engine.coreml_backend import CoreMLBackend

            return CoreMLBackend.from_export(self.settings.export_dir(role, name), read_manifest(root / role))
        return TorchBackend.from_artifact(root / role, role=role)

    def _check_drafter(self) -> None:
        root = self.settings.artifacts
        if self.speculative == "draft" and "worker" in self.roles:
            drafter = root / "drafter"
            if not (drafter / "manifest.json").is_file():
                log.warning("no drafter artifact at %s: speculative decoding falls back to n-gram lookup", drafter)
                self.speculative = "ngram"
                return
            worker_sha = read_manifest(root / "worker").get("tokenizer_sha256")
            drafter_sha = read_manifest(drafter).get("tokenizer_sha256")
            if worker_sha is None or worker_sha != drafter_sha:
                raise SetupError(f"worker and drafter tokenizers differ ({worker_sha} vs {drafter_sha}); "
                                 "speculative decoding needs one tokenizer (or use --speculative ngram|off)")

    @property
    def ready(self) -> bool:
        return self.error is None and set(self.models) == set(self.roles)

    def load(self, background: bool) -> None:
        if background:
            self._thread = threading.Thread(target=self._load_all, name="model-loader", daemon=True)
            self._thread.start()
        else:
            self._load_all(raise_errors=True)

    def _load_all(self, raise_errors: bool = False) -> None:
        for role in self.roles:
            try:
                self.models[role] = self._load(role)
                log.info("loaded %s (%s backend)", role, self.settings.backend_for(role))
            except Exception as exc:
                self.error = f"{role}: {exc}"
                log.exception("cannot load %s", role)
                if raise_errors:
                    raise
                return

    def _load(self, role: str) -> ServedModel:
        s, root = self.settings, self.settings.artifacts
        tokenizer = KSTokenizer.load(root / role)
        backend = self.backend(role)
        speculative = self.speculative if role == "worker" else "off"
        drafter = self.backend("drafter") if speculative == "draft" else None
        parallel = read_role_config(root / "drafter").model.parallel_draft if drafter is not None else 0
        engine = Engine(
            backend, end_id=tokenizer.end_id, max_num_seqs=s.max_num_seqs, max_queue=s.max_queue,
            max_model_len=s.max_model_len, speculative=speculative, drafter=drafter,
            num_speculative_tokens=s.num_speculative_tokens, parallel_draft=parallel, pad_id=tokenizer.pad_id,
            adaptive_gamma=s.adaptive_speculation,
            ngram_max=s.ngram_max, ngram_min=s.ngram_min, observer=self.metrics.observer(role),
        )
        engine.start()
        grammars = Grammars.for_tokenizer(tokenizer)
        special = {t: tokenizer.tk.token_to_id(t) for t in SPECIAL_TOKENS}
        return ServedModel(role, engine, tokenizer, grammars, special,
                           read_manifest(root / role), int(time.time()))

    def resolve(self, name: str) -> str | None:
        role = name.removeprefix(ALIAS_PREFIX)
        return role if role in self.roles else None

    def shutdown(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=60)
        for m in self.models.values():
            m.engine.shutdown()
