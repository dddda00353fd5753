"""Persistence of the CAWS service: SQLAlchemy 2 tables, repositories (keyword-only functions), migrations.

`Store` is built once per app (in `create_app`) from the settings' database URL and kept on
`app.state`; routes get a fresh `Session` per request through `service.api.deps.CawsDep`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.store import db


class SchemaNotReady(RuntimeError):
    """The database is not at the migrations' head revision."""


@dataclass
class Store:
    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def open(cls, url: str, *, migrate: bool) -> Store:
        """Connect; with `migrate` (the embedded SQLite default) bring the schema to head first."""
        if migrate:
            db.upgrade(url)
        engine = db.make_engine(url)
        current, head = db.current_revision(engine), db.head_revision()
        if current != head:
            engine.dispose()
            raise SchemaNotReady(f"database schema is at {current}, not {head}: run `kimi-student db upgrade`")
        return cls(engine, db.make_sessions(engine))

    def close(self) -> None:
        self.engine.dispose()
