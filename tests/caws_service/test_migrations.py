"""Alembic: upgrade from empty and downgrade to base on SQLite and PostgreSQL; `kimi-student db` drives it."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from sqlalchemy import inspect

from service.store import db
from service.store.tables import Base
from tests.caws_service.conftest import drop_postgres_database, postgres_database

TABLES = set(Base.metadata.tables)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    name = f"ks_mig_{uuid.uuid4().hex[:12]}"
    yield postgres_database(name)
    drop_postgres_database(name)


def tables(url: str) -> set[str]:
    engine = db.make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_and_downgrade(empty_url: str) -> None:
    assert tables(empty_url) == set()
    db.upgrade(empty_url)
    assert tables(empty_url) == TABLES
    engine = db.make_engine(empty_url)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()
    db.downgrade(empty_url, "base")
    assert tables(empty_url) == set()
    db.upgrade(empty_url)  # and up again
    assert tables(empty_url) == TABLES


def test_the_tables_match_the_models(empty_url: str) -> None:
    """No drift between service/store/tables.py and the migrations: autogenerate finds nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db.upgrade(empty_url)
    engine = db.make_engine(empty_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_cli(tmp_path) -> None:
    run = [sys.executable, "-m", "kimi_student", "db"]
    up = subprocess.run([*run, "upgrade", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert up.returncode == 0 and db.head_revision() in up.stdout
    current = subprocess.run([*run, "current", "--data-dir", str(tmp_path)], capture_output=True, text=True,
                             timeout=120)
    assert current.stdout.strip() == db.head_revision()
    down = subprocess.run([*run, "downgrade", "--data-dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert down.returncode == 0 and "base" in down.stdout


def test_processes_migrating_one_sqlite_file_together(tmp_path) -> None:
    """`serve --workers N` starts N processes that each migrate the embedded database at once."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    code = "import sys; from service.store import db; db.upgrade(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, url]) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert tables(url) == TABLES
