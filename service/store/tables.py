"""SQLAlchemy 2 tables of the CAWS service; `migrations/` creates them (never `create_all` in production).

A verdict keeps its full record as JSON text (what the API returns, byte for byte) plus the columns
people query by; candidates and violations are rows of their own. The provenance chain is one row
per entry and a single `chain_head` row (id 1) that every append locks, so appends from any number
of processes are serialized by the database.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC in and out; SQLite keeps no zone, so naive values read back are UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class SafeText(TypeDecorator):
    """Text that PostgreSQL can hold: NUL is escaped reversibly (backslash first), on every database alike,
    so lookups by value find what was stored."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | None:
        return value.replace("\\", "\\\\").replace("\x00", "\\0") if value is not None else None

    def process_result_value(self, value: str | None, dialect) -> str | None:
        return _ESCAPED.sub(lambda m: "\x00" if m.group(1) == "0" else "\\", value) if value is not None else None


_ESCAPED = re.compile(r"\\(\\|0)")


class Base(DeclarativeBase):
    pass


class Verdict(Base):
    __tablename__ = "verdicts"

    verdict_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    change_id: Mapped[str] = mapped_column(SafeText, index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    spec_id: Mapped[str] = mapped_column(SafeText)
    record_json: Mapped[str] = mapped_column(Text)
    principal: Mapped[str | None] = mapped_column(SafeText)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class Candidate(Base):
    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("verdict_id", "candidate_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    verdict_id: Mapped[str] = mapped_column(ForeignKey("verdicts.verdict_id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[str] = mapped_column(SafeText)
    status: Mapped[str] = mapped_column(String(20))
    judge_score: Mapped[float] = mapped_column(Float)
    superseded: Mapped[bool]


class ViolationRow(Base):
    __tablename__ = "violations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    verdict_id: Mapped[str] = mapped_column(ForeignKey("verdicts.verdict_id", ondelete="CASCADE"), index=True)
    gate: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(SafeText)
    waived_by: Mapped[str | None] = mapped_column(String(16))


class ProvenanceEntry(Base):
    __tablename__ = "provenance_entries"

    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    verdict_id: Mapped[str] = mapped_column(ForeignKey("verdicts.verdict_id"), unique=True)
    record_sha256: Mapped[str] = mapped_column(String(64))
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class ChainHead(Base):
    """One row (id 1): the chain's length and last hash; locked by every append."""

    __tablename__ = "chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    length: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))


class WaiverRow(Base):
    __tablename__ = "waivers"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    applies_to: Mapped[str] = mapped_column(SafeText, index=True)
    status: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(SafeText)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    doc_json: Mapped[str] = mapped_column(Text)  # the waiver document without approvers and status


class Approval(Base):
    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("waiver_id", "handle"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    waiver_id: Mapped[str] = mapped_column(ForeignKey("waivers.id", ondelete="CASCADE"), index=True)
    handle: Mapped[str] = mapped_column(SafeText)
    approved_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(SafeText, unique=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to tell keys apart in listings
    scopes: Mapped[str] = mapped_column(Text)  # comma-separated
    rate_limit_per_min: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    scope_key: Mapped[str] = mapped_column(String(300), primary_key=True)  # principal + Idempotency-Key
    body_sha256: Mapped[str] = mapped_column(String(64))
    verdict_id: Mapped[str] = mapped_column(ForeignKey("verdicts.verdict_id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
