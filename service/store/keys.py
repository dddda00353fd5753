"""API keys: generated once, stored as SHA-256 digests (never in clear), with scopes and a rate limit.

Keys are 256 random bits, so a plain SHA-256 is enough to store them: there is nothing to brute-force
that a slow hash would protect.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from service.store.db import write_transaction
from service.store.tables import ApiKey

SCOPES = ("chat", "adjudicate", "waivers:write", "waivers:approve", "admin")
KEY_PREFIX = "ks-"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's name and scopes (`anonymous` with every scope but approval when auth is off)."""

    name: str
    scopes: frozenset[str]
    rate_limit_per_min: int | None = None
    authenticated: bool = True


@dataclass(frozen=True)
class KeyInfo:
    name: str
    prefix: str
    scopes: tuple[str, ...]
    rate_limit_per_min: int | None
    created_at: dt.datetime
    revoked: bool


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, *, name: str, scopes: list[str], rate_limit_per_min: int | None = None) -> str:
    """A new key (returned once, stored only as its digest); ValueError on an unknown scope or a taken name."""
    if not 1 <= len(name) <= 64 or not name.isprintable():
        raise ValueError("a key name is 1 to 64 printable characters")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"unknown scopes {unknown}; choose from {list(SCOPES)}" if unknown else "no scopes given")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with write_transaction(session):
        if session.execute(select(ApiKey).where(ApiKey.name == name)).scalar_one_or_none() is not None:
            raise ValueError(f"a key named {name!r} exists")
        session.add(ApiKey(name=name, key_sha256=digest(key), prefix=key[:10], scopes=",".join(scopes),
                           rate_limit_per_min=rate_limit_per_min, created_at=dt.datetime.now(dt.UTC)))
    return key


# Every authenticated request runs this: the columns it needs, a statement built once.
KEY_BY_DIGEST = select(ApiKey.name, ApiKey.scopes, ApiKey.rate_limit_per_min, ApiKey.revoked_at).where(
    ApiKey.key_sha256 == bindparam("digest"))


def authenticate(session: Session, *, key: str) -> Principal | None:
    """The principal of a live key, or None for an unknown or revoked one."""
    with session.begin():
        row = session.connection().execute(KEY_BY_DIGEST, {"digest": digest(key)}).first()
    if row is None or row.revoked_at is not None:
        return None
    return Principal(row.name, frozenset(row.scopes.split(",")), row.rate_limit_per_min)


def list_keys(session: Session) -> list[KeyInfo]:
    with session.begin():
        rows = session.execute(select(ApiKey).order_by(ApiKey.id)).scalars().all()
    return [KeyInfo(r.name, r.prefix, tuple(r.scopes.split(",")), r.rate_limit_per_min, r.created_at,
                    r.revoked_at is not None) for r in rows]


def revoke_key(session: Session, *, name: str) -> bool:
    with write_transaction(session):
        row = session.execute(select(ApiKey).where(ApiKey.name == name)).scalar_one_or_none()
        if row is None:
            return False
        row.revoked_at = row.revoked_at or dt.datetime.now(dt.UTC)
    return True
