"""Service settings: one pydantic-settings class, `KS_` environment variables, CLI flags on top."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROLES = ("worker", "judge", "drafter", "teacher")
BACKENDS = ("auto", "torch", "onnx", "coreml")


def parse_backends(spec: str) -> tuple[str, dict[str, str]]:
    """`--backend`: one backend for every role (`onnx`), or per role with an optional default
    (`torch,drafter=onnx`, `worker=coreml,drafter=coreml`; roles not named get `auto`); returns
    (default, {role: backend})."""
    default, per_role = "auto", {}
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if not items:
        raise ValueError("backend is empty; use auto, torch, onnx, coreml, or role=backend pairs")
    for item in items:
        role, sep, name = item.rpartition("=")
        role, name = role.strip(), name.strip()
        if name not in BACKENDS:
            raise ValueError(f"unknown backend {name!r} in {spec!r}; choose from {', '.join(BACKENDS)}")
        if not sep:
            default = name
        elif role not in ROLES:
            raise ValueError(f"unknown role {role!r} in {spec!r}; roles are {', '.join(ROLES)}")
        else:
            per_role[role] = name
    return default, per_role


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    artifacts: Path = Path("artifacts")
    # Roles served as /v1 models when their artifact exists (artifacts/<role>/manifest.json).
    models: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(ROLES))  # KS_MODELS=worker,judge
    # One backend for every role ("onnx"), or per role: "torch,drafter=onnx" (parse_backends).
    # auto (onnx where the role has a current ONNX export, else torch) | torch | onnx (onnxruntime) |
    # coreml (macOS 15+: worker and drafter only)
    backend: str = "auto"
    # ONNX exports (`kimi-student export onnx`), one directory per role; default <artifacts>/onnx/<role>.
    onnx_dir: Path | None = None
    # Core ML exports (`kimi-student export coreml`, served on macOS 15+); default <artifacts>/coreml/<role>.
    coreml_dir: Path | None = None
    # Speculative decoding of the worker: with the drafter, n-gram prompt lookup, or off.
    speculative: Literal["draft", "ngram", "off"] = "draft"
    # Draft length gamma; default: every guess of a parallel drafter (its parallel_draft + 1), else 4.
    num_speculative_tokens: int | None = Field(default=None, ge=1, le=16)
    adaptive_speculation: bool = True
    ngram_max: int = Field(default=4, ge=1)
    ngram_min: int = Field(default=1, ge=1)
    max_num_seqs: int = Field(default=8, ge=1, le=64)  # sequences decoded together per model
    max_queue: int = Field(default=32, ge=0)  # waiting requests before 503
    max_model_len: int | None = Field(default=None, ge=2)  # default: the model's max_seq_len
    max_body_bytes: int = Field(default=4 << 20, ge=1024)
    retry_after_s: int = Field(default=1, ge=1)
    # Intra-op threads per process. Small models decode fastest on one; with more threads than free
    # cores (engines, other jobs) torch spin-waits and decoding slows down by 10-100x.
    torch_threads: int | None = Field(default=1, ge=1)
    load_in_background: bool = True  # /ready is 503 until every model is loaded
    workers: int = Field(default=1, ge=1)
    log_level: str = "info"

    # CAWS service: storage, cache, auth (CONTRACTS.md section 1 "CAWS" and "Operations").
    data_dir: Path = Path("data")  # the embedded SQLite file lives here when no database_url is set
    database_url: str | None = None  # e.g. postgresql+psycopg://user@host:5432/db
    redis_url: str | None = None  # e.g. redis://127.0.0.1:6379/0; in-process cache without it
    redis_prefix: str = "ks:"  # every Redis key of this service starts with it
    auth: Literal["on", "off"] = "on"  # "off" only on a loopback bind
    rate_limit_per_min: int = Field(default=600, ge=1)  # per API key, unless the key sets its own
    idempotency_ttl_s: int = Field(default=86400, ge=1)
    caws_policy: Path | None = None  # default configs/caws/policy.yaml

    @property
    def sqlalchemy_url(self) -> str:
        """KS_DATABASE_URL, or the embedded SQLite file under the data directory."""
        if self.database_url:
            url = self.database_url
            return "postgresql+psycopg://" + url.split("://", 1)[1] if url.startswith(("postgres://",
                                                                                          "postgresql://")) else url
        return f"sqlite:///{(self.data_dir / 'kimi-student.db').resolve()}"

    @model_validator(mode="after")
    def _auth_off_only_on_loopback(self) -> Settings:
        if self.auth == "off" and not is_loopback(self.host):
            raise ValueError(f"auth off is only allowed on a loopback bind, not host {self.host!r}")
        return self

    def backend_for(self, role: str) -> str:
        """The backend serving `role`: torch, onnx or coreml (`auto` resolved)."""
        default, per_role = parse_backends(self.backend)
        name = per_role.get(role, default)
        return self._auto(role) if name == "auto" else name

    def _auto(self, role: str) -> str:
        """onnx when the role has an ONNX export of its artifact's current weights (onnxruntime's plain
        decoding of the toy worker is 1.6-2.3x torch's on the CPUs measured: docs/serving.md, "Measured"),
        else torch. A missing or stale export is no error here: `kimi-student export onnx` makes one,
        `--backend onnx` demands one."""
        from conversion.contracts import check_export

        try:
            manifest = json.loads((self.artifacts / role / "manifest.json").read_text())
            check_export(self.export_dir(role, "onnx"), manifest, "onnx")
        except (OSError, ValueError):  # StaleExportError is a ValueError
            return "torch"
        return "onnx"

    def export_dir(self, role: str, backend: str) -> Path:
        """Where `kimi-student export onnx|coreml` writes by default: <artifacts>/<backend>/<role>."""
        configured = {"onnx": self.onnx_dir, "coreml": self.coreml_dir}[backend]
        return (configured or self.artifacts / backend) / role

    @field_validator("backend")
    @classmethod
    def _backends(cls, value: str) -> str:
        parse_backends(value)
        return value

    @field_validator("models", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @field_validator("models")
    @classmethod
    def _known_roles(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown model roles {unknown}; choose from {list(ROLES)}")
        return value
