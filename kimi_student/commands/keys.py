"""`kimi-student keys create|list|revoke`: API keys of the service, stored hashed (CONTRACTS.md section 1).

`keys create` prints the new key alone on stdout: it is shown once and cannot be recovered.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="create, list and revoke API keys")
    steps = p.add_subparsers(dest="keys_command", metavar="STEP", required=True)
    create = steps.add_parser("create", help="create a key and print it (only once)")
    create.add_argument("--name", required=True, help="unique name of the key's holder (the principal)")
    create.add_argument("--scopes", required=True,
                        help="comma-separated: chat, adjudicate, waivers:write, waivers:approve, admin")
    create.add_argument("--rate-limit", type=int,
                        help="requests per minute for this key (default KS_RATE_LIMIT_PER_MIN)")
    listing = steps.add_parser("list", help="list keys (names, prefixes, scopes; never the keys)")
    revoke = steps.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("--name", required=True)
    for q in (create, listing, revoke):
        q.add_argument("--database-url", help="SQLAlchemy URL (default KS_DATABASE_URL, else the SQLite file)")
        q.add_argument("--data-dir", type=Path, help="directory of the embedded SQLite file (default data/)")
    create.set_defaults(func=_create)
    listing.set_defaults(func=_list)
    revoke.set_defaults(func=_revoke)


def _sessions(args: argparse.Namespace):
    from kimi_student.cli import CommandError
    from kimi_student.commands.db import database_url
    from service.store import SchemaNotReady, Store

    url = database_url(args)
    try:
        return Store.open(url, migrate=url.startswith("sqlite")).sessions
    except SchemaNotReady as exc:
        raise CommandError(str(exc)) from None


def _create(args: argparse.Namespace) -> int:
    from kimi_student.cli import CommandError
    from service.store.keys import create_key

    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    if args.rate_limit is not None and args.rate_limit < 1:
        raise CommandError("--rate-limit must be at least 1")
    with _sessions(args)() as session:
        try:
            key = create_key(session, name=args.name, scopes=scopes, rate_limit_per_min=args.rate_limit)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    sys.stdout.write(key + "\n")
    return 0


def _list(args: argparse.Namespace) -> int:
    from service.store.keys import list_keys

    with _sessions(args)() as session:
        for k in list_keys(session):
            state = "revoked" if k.revoked else "active"
            limit = f"{k.rate_limit_per_min}/min" if k.rate_limit_per_min else "default"
            print(f"{k.name}\t{k.prefix}…\t{','.join(k.scopes)}\t{limit}\t{state}\t{k.created_at:%Y-%m-%dT%H:%M:%SZ}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from kimi_student.cli import CommandError
    from service.store.keys import revoke_key

    with _sessions(args)() as session:
        if not revoke_key(session, name=args.name):
            raise CommandError(f"no key named {args.name!r}")
    print(f"revoked {args.name}")
    return 0
