"""Fixtures of the CAWS service tests: a backend per database + cache pair, a tiny Judge, keys, pleas.

`backend` is parametrized over the embedded pair (SQLite file + in-process cache) and the real
servers (PostgreSQL on 127.0.0.1:5432 in a database created for this session and dropped after it,
Redis on 127.0.0.1:6379 under a key prefix of this session, deleted after it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import Settings
from service.store import db

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "configs" / "caws" / "examples" / "01-pass-tier2"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
SCOPES_ALL = ["adjudicate", "waivers:write", "waivers:approve"]


def postgres_database(name: str) -> str:
    """Create database `name` on the local server; return its SQLAlchemy URL."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    redis_url: str | None
    redis_prefix: str


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"ks_test_{uuid.uuid4().hex[:12]}"
    url = postgres_database(name)
    db.upgrade(url)
    yield url
    drop_postgres_database(name)


@pytest.fixture(scope="session", params=["sqlite+memory", "postgres+redis"])
def backend(request, tmp_path_factory) -> Iterator[Backend]:
    if request.param == "sqlite+memory":
        path = tmp_path_factory.mktemp("sqlite") / "kimi-student.db"
        yield Backend(request.param, f"sqlite:///{path}", None, "")
        return
    prefix = f"kstest:{uuid.uuid4().hex[:12]}:"
    yield Backend(request.param, request.getfixturevalue("postgres_url"), REDIS, prefix)
    flush_prefix(prefix)


@pytest.fixture(scope="session")
def judge_artifacts(tmp_path_factory) -> Path:
    """artifacts/judge/: a random tiny Judge (judge_tiny config) on a tokenizer trained here."""
    import torch

    from modeling.checkpoint import save_artifact
    from modeling.config import load_role_config
    from modeling.model import Transformer
    from modeling.tokenizer import save_tokenizer, train_tokenizer

    root = tmp_path_factory.mktemp("judge")
    sources = sorted((REPO / "arbiter").rglob("*.py")) + sorted((REPO / "docs").glob("*.md"))
    texts = [plea_text(i) for i in range(200)] + [p.read_text(encoding="utf-8") for p in sources]
    save_tokenizer(train_tokenizer(texts, 512), root / "tokenizer")
    torch.manual_seed(0)
    cfg = load_role_config("judge_tiny")
    save_artifact(root / "artifacts" / "judge", Transformer(cfg.model).eval(), cfg, tokenizer_dir=root / "tokenizer")
    return root / "artifacts"


def plea_text(i: int) -> str:
    return (f"CAWS working spec FEAT-{i} (tier 2, mode feature): change {i}\nfiles: {i % 5} of 3\nloc: {i} of 20\n"
            f"gates: tests=pass lint=fail coverage_threshold=pass\npaths: src/auth/limiter.py tests/auth/x.py\n"
            f"rationale: adds a limiter because of {i} failed logins")


def settings_for(backend: Backend, tmp_path: Path, artifacts: Path, **overrides) -> Settings:
    return Settings(models=[], artifacts=artifacts, data_dir=tmp_path, database_url=backend.database_url,
                    redis_url=backend.redis_url, redis_prefix=backend.redis_prefix or "ks:",
                    load_in_background=False, torch_threads=None, **overrides)


@pytest.fixture(scope="session")
def client(backend: Backend, judge_artifacts: Path, tmp_path_factory) -> Iterator[TestClient]:
    """One app per backend, with the tiny Judge and auth on."""
    app = create_app(settings_for(backend, tmp_path_factory.mktemp("data"), judge_artifacts))
    with TestClient(app) as c:
        yield c


def make_key(client: TestClient, name: str | None = None, scopes: list[str] | None = None,
             rate_limit_per_min: int | None = None) -> dict[str, str]:
    """Authorization headers of a new key (unique name by default)."""
    from service.store.keys import create_key

    with client.app.state.caws.store.sessions() as session:
        key = create_key(session, name=name or f"user-{uuid.uuid4().hex[:8]}", scopes=scopes or SCOPES_ALL,
                         rate_limit_per_min=rate_limit_per_min)
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture()
def headers(client: TestClient) -> dict[str, str]:
    return make_key(client)


def plea_body(change_id: str | None = None, **overrides) -> dict:
    """The passing tier-2 example as an adjudicate body (a fresh change id unless given)."""
    body = {
        "change_id": change_id or f"FEAT-42-{uuid.uuid4().hex[:10]}",
        "working_spec": yaml.safe_load((EXAMPLE / "spec.yaml").read_text()),
        "diff": (EXAMPLE / "change.diff").read_text(),
        "rationale": (EXAMPLE / "rationale.txt").read_text(),
        "evidence_manifest": json.loads((EXAMPLE / "evidence.json").read_text()),
        "gate_results": json.loads((EXAMPLE / "gates.json").read_text()),
        "now": "2026-11-25T12:00:00Z",
    }
    return {**body, **overrides}


def waiver_body(**overrides) -> dict:
    body = {"applies_to": "FEAT-42", "gates": ["lint"], "delta": {"max_files": 0, "max_loc": 0},
            "reason_code": "other", "description": "Lint rule under review.", "mitigation": "Fixed next sprint.",
            "expires_at": "2026-12-01T00:00:00Z", "risk_owner": "bob"}
    return {**body, **overrides}
