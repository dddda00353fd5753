"""`kimi-student db upgrade|downgrade|current`: Alembic migrations of the CAWS store.

The database is KS_DATABASE_URL (PostgreSQL in production) or the embedded SQLite file under
KS_DATA_DIR (default `data/`), the same one `kimi-student serve` opens.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="migrate the CAWS database (SQLite or PostgreSQL)")
    steps = p.add_subparsers(dest="db_command", metavar="STEP", required=True)
    up = steps.add_parser("upgrade", help="migrate to the newest revision (or --to REV)")
    up.add_argument("--to", default="head", help="target revision (default head)")
    down = steps.add_parser("downgrade", help="migrate back to --to REV (default base: drops every table)")
    down.add_argument("--to", default="base", help="target revision (default base)")
    current = steps.add_parser("current", help="print the database's revision")
    for q in (up, down, current):
        q.add_argument("--database-url", help="SQLAlchemy URL (default KS_DATABASE_URL, else the SQLite file)")
        q.add_argument("--data-dir", type=Path, help="directory of the embedded SQLite file (default data/)")
    up.set_defaults(func=_upgrade)
    down.set_defaults(func=_downgrade)
    current.set_defaults(func=_current)


def database_url(args: argparse.Namespace) -> str:
    from service.settings import Settings

    overrides = {k: v for k, v in (("database_url", args.database_url), ("data_dir", args.data_dir)) if v}
    return Settings(**overrides).sqlalchemy_url


def _upgrade(args: argparse.Namespace) -> int:
    from service.store import db

    url = database_url(args)
    db.upgrade(url, args.to)
    print(f"database at {_revision(url)}")
    return 0


def _downgrade(args: argparse.Namespace) -> int:
    from service.store import db

    url = database_url(args)
    db.downgrade(url, args.to)
    print(f"database at {_revision(url)}")
    return 0


def _current(args: argparse.Namespace) -> int:
    print(_revision(database_url(args)))
    return 0


def _revision(url: str) -> str:
    from service.store import db

    engine = db.make_engine(url)
    try:
        return db.current_revision(engine) or "base"
    finally:
        engine.dispose()
