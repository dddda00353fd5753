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
        """Fail fast: no servable artifact, a drafter whose tokenizer differs from the worker's, or (for a
        role on the onnx backend) a missing or stale ONNX export."""
        root = self.settings.artifacts
        if not self.roles and self.settings.models:  # KS_MODELS= (empty): the CAWS endpoints only
            raise SetupError(f"no model artifacts under {root}/ (looked for {self.settings.models}); "
                             "run `kimi-student bootstrap --profile toy` first")
        self._check_drafter()
        self._check_onnx_exports()

    def onnx_dir(self, role: str) -> Path:
        return (self.settings.onnx_dir or self.settings.artifacts / "onnx") / role

    def _check_onnx_exports(self) -> None:
        from conversion.source import EXPORTED_ROLES
        from service.engine.onnx_backend import StaleExportError, check_export

        root, onnx = self.settings.artifacts, self.settings.backend_for
        skipped = [r for r in self.roles if onnx(r) == "onnx" and r not in EXPORTED_ROLES]
        if skipped:
            log.warning("--backend onnx: not serving %s (not exported to ONNX)", skipped)
            self.roles = [r for r in self.roles if r not in skipped]
        speculating = self.speculative == "draft" and "worker" in self.roles
        drafter = ["drafter"] if speculating and "drafter" not in self.roles else []
        for role in self.roles + drafter:
            if onnx(role) != "onnx":
                continue
            try:
                check_export(self.onnx_dir(role), read_manifest(root / role))
            except StaleExportError as exc:
                raise SetupError(f"--backend onnx: {exc}; run `kimi-student export onnx --artifact "
                                 f"{root / role} --out {self.onnx_dir(role)}`") from None

    def backend(self, role: str) -> Backend:
        root = self.settings.artifacts
        if self.settings.backend_for(role) == "onnx":
            from service.engine.onnx_backend import OnnxBackend

            return OnnxBackend.from_export(self.onnx_dir(role), read_manifest(root / role), self.settings.torch_threads)
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
                log.info("loaded %s", role)
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
        engine = Engine(
            backend, end_id=tokenizer.end_id, max_num_seqs=s.max_num_seqs, max_queue=s.max_queue,
            max_model_len=s.max_model_len, speculative=speculative, drafter=drafter,
            num_speculative_tokens=s.num_speculative_tokens, adaptive_gamma=s.adaptive_speculation,
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
