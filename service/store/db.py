"""Engines, sessions, the chain lock and Alembic migrations for SQLite and PostgreSQL.

SQLite: a write transaction (`write_transaction`) starts with `BEGIN IMMEDIATE`, so writers (and the
chain append) are serialized across processes by SQLite's own file lock, with a busy timeout instead
of errors; reads start with a plain `BEGIN` and never wait for writers (WAL). Writers first queue on
a lock of the engine's (a thread lock, then `flock` on `<database>.write.lock` against other processes,
released by the kernel if a process dies): SQLite's busy handler would otherwise have them retry after
sleeps of 1 to 100 ms, so a waiting writer woke late, and concurrent adjudications paid that in p95.
PostgreSQL: `lock_chain` takes `SELECT ... FOR UPDATE` on the single `chain_head` row.
"""

from __future__ import annotations

import fcntl
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from service.store.tables import ChainHead

WRITE = "ks_write_transaction"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class SqliteWriters:
    """The write lock of one SQLite database: writers of this process in turn, then across processes."""

    def __init__(self, url: str):
        path = url.split("///", 1)[-1]
        self.lock_path = f"{path}.write.lock" if path and path != ":memory:" else None
        self._thread_lock = threading.Lock()
        self._file = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self.lock_path is None:
                yield
                return
            if self._file is None:
                self._file = open(self.lock_path, "a")  # noqa: SIM115 (kept open: one per process)
            fcntl.flock(self._file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._file, fcntl.LOCK_UN)


_WRITERS: weakref.WeakKeyDictionary[Engine, SqliteWriters] = weakref.WeakKeyDictionary()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        _WRITERS[engine] = SqliteWriters(url)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1] if url.startswith("sqlite") else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")


@contextmanager
def write_transaction(session: Session) -> Iterator[None]:
    """A transaction that will write: on SQLite it takes the database's write lock up front (after this
    process's other writers, in arrival order)."""
    writers = _WRITERS.get(session.get_bind())
    with writers.held() if writers is not None else nullcontext(), session.begin():
        session.connection(execution_options={WRITE: True})
        yield


def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN IMMEDIATE itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


LOCK_HEAD = select(ChainHead.length, ChainHead.head_hash).where(ChainHead.id == 1).with_for_update()


def lock_chain(session: Session) -> tuple[int, str]:
    """(length, head hash) of the chain, its row locked until the transaction ends (SQLite:
    `write_transaction` holds the lock)."""
    head = session.connection().execute(LOCK_HEAD).one()
    return head.length, head.head_hash


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate; processes starting together on one SQLite file (`serve --workers N`) take turns."""
    ensure_sqlite_dir(url)
    with _migration_lock(url):
        command.upgrade(alembic_config(url), revision)


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    path = url.split("///", 1)[-1] if url.startswith("sqlite") else ""
    if not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate.lock", "a") as lock:  # a file of its own: flock never touches SQLite's locks
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
