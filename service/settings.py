"""Service settings: one pydantic-settings class, `KS_` environment variables, CLI flags on top."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROLES = ("worker", "judge", "drafter", "teacher")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    artifacts: Path = Path("artifacts")
    # Roles served as /v1 models when their artifact exists (artifacts/<role>/manifest.json).
    models: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(ROLES))  # KS_MODELS=worker,judge
    backend: Literal["torch"] = "torch"
    # Speculative decoding of the worker: with the drafter, n-gram prompt lookup, or off.
    speculative: Literal["draft", "ngram", "off"] = "draft"
    num_speculative_tokens: int = Field(default=4, ge=1, le=16)
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
