"""Verdicts and the provenance chain: store a sealed verdict and its chain entry in one transaction.

`save_verdict` locks the chain head, then (under that lock) answers an Idempotency-Key it has seen
before, returns an identical verdict already stored (the arbiter derives `verdict_id` from the
inputs, so the same inputs give the same record), or appends: chain entry, sealed record,
candidates, violations and the idempotency record commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from arbiter.provenance import GENESIS, ChainReport, entry_hash, record_hash, seal, verify
from service.store.db import lock_chain, write_transaction
from service.store.tables import Candidate, ChainHead, IdempotencyRecord, ProvenanceEntry, Verdict, ViolationRow

VERDICTS, CANDIDATES, VIOLATIONS = Verdict.__table__, Candidate.__table__, ViolationRow.__table__
ENTRIES, HEAD, IDEMPOTENCY = ProvenanceEntry.__table__, ChainHead.__table__, IdempotencyRecord.__table__
# The statements of an append, built once (parameters at execution: no per-call construction).
SEEN_KEY = select(IDEMPOTENCY.c.body_sha256, IDEMPOTENCY.c.verdict_id).where(
    IDEMPOTENCY.c.scope_key == bindparam("key"))
SEEN_VERDICT = select(VERDICTS.c.record_json).where(VERDICTS.c.verdict_id == bindparam("vid"))
ADVANCE_HEAD = update(HEAD).where(HEAD.c.id == 1).values(length=bindparam("new_length"),
                                                         head_hash=bindparam("new_hash"))


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with another request body."""


@dataclass(frozen=True)
class Saved:
    record: dict[str, Any]
    created: bool  # False: an earlier identical request's verdict was returned


def save_verdict(session: Session, *, record: Mapping[str, Any], principal: str | None,
                 idempotency: tuple[str, str] | None = None) -> Saved:
    """Persist `record` (unsealed) with its chain entry; `idempotency` is (scope key, body sha256).
    Plain SQL statements on the session's connection (no unit of work): this runs for every
    adjudication, and the ORM's flush cost more than the rest of the transaction."""
    with write_transaction(session):
        conn = session.connection()
        length, head_hash = lock_chain(session)
        if idempotency is not None:
            seen = conn.execute(SEEN_KEY, {"key": idempotency[0]}).first()
            if seen is not None:
                if seen.body_sha256 != idempotency[1]:
                    raise IdempotencyConflict(idempotency[0])
                return Saved(_load(session, seen.verdict_id), created=False)
        existing = conn.execute(SEEN_VERDICT, {"vid": record["verdict_id"]}).scalar_one_or_none()
        sealed = _append(conn, length, head_hash, record, principal) if existing is None else json.loads(existing)
        if idempotency is not None:
            conn.execute(insert(IDEMPOTENCY), {"scope_key": idempotency[0], "body_sha256": idempotency[1],
                                               "verdict_id": record["verdict_id"], "created_at": _now()})
        return Saved(sealed, created=existing is None)


def _append(conn: Connection, length: int, head_hash: str, record: Mapping[str, Any],
            principal: str | None) -> dict[str, Any]:
    digest = record_hash(record)
    vid = record["verdict_id"]
    entry = {"index": length, "verdict_id": vid, "record_sha256": digest, "previous_hash": head_hash,
             "hash": entry_hash(length, vid, digest, head_hash)}
    sealed = seal(record, entry)
    conn.execute(insert(VERDICTS), {"verdict_id": vid, "change_id": sealed["change_id"], "status": sealed["status"],
                                    "spec_id": sealed["spec_id"], "record_json": json.dumps(sealed, ensure_ascii=False),
                                    "principal": principal, "created_at": _now()})
    conn.execute(insert(CANDIDATES), [{"verdict_id": vid, "candidate_id": c["candidate_id"], "status": c["status"],
                                       "judge_score": c["judge_score"], "superseded": c["superseded"]}
                                      for c in sealed["candidates"]])
    if sealed["violations"]:
        conn.execute(insert(VIOLATIONS), [{"verdict_id": vid, "gate": v["gate"], "message": v["message"],
                                           "waived_by": v["waived_by"]} for v in sealed["violations"]])
    conn.execute(insert(ENTRIES), entry)
    conn.execute(ADVANCE_HEAD, {"new_length": length + 1, "new_hash": entry["hash"]})
    return sealed


def _load(session: Session, verdict_id: str) -> dict[str, Any]:
    return json.loads(session.get(Verdict, verdict_id).record_json)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def get_verdict(session: Session, *, verdict_id: str) -> dict[str, Any] | None:
    with session.begin():
        row = session.get(Verdict, verdict_id)
        return json.loads(row.record_json) if row else None


def list_verdicts(session: Session, *, change_id: str | None = None, limit: int = 100,
                  offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Verdicts in chain order (oldest first), optionally of one change, and how many match."""
    query = select(Verdict).join(ProvenanceEntry, ProvenanceEntry.verdict_id == Verdict.verdict_id)
    count = select(func.count()).select_from(Verdict)
    if change_id is not None:
        query, count = query.where(Verdict.change_id == change_id), count.where(Verdict.change_id == change_id)
    with session.begin():
        rows = session.execute(query.order_by(ProvenanceEntry.index).offset(offset).limit(limit)).scalars()
        return [json.loads(r.record_json) for r in rows], session.execute(count).scalar_one()


def verify_chain(session: Session) -> ChainReport:
    """Every link and hash up to the head, each record against its entry, and no verdict without an entry.

    The head is read first and only entries below it are checked, so the report is consistent while
    other writers append (a verdict, its entry and the new head always commit together).
    """
    with session.begin():
        head = session.get(ChainHead, 1)
        length = head.length if head is not None else 0
        entries = session.execute(select(ProvenanceEntry).where(ProvenanceEntry.index < length)
                                  .order_by(ProvenanceEntry.index)).scalars().all()
        rows = session.execute(select(Verdict).join(ProvenanceEntry, ProvenanceEntry.verdict_id == Verdict.verdict_id)
                               .where(ProvenanceEntry.index < length)).scalars()
        records = {v.verdict_id: json.loads(v.record_json) for v in rows}
        orphans = session.execute(select(func.count()).select_from(Verdict).outerjoin(
            ProvenanceEntry, ProvenanceEntry.verdict_id == Verdict.verdict_id).where(ProvenanceEntry.index.is_(None))
        ).scalar_one()
    chain = [{"index": e.index, "verdict_id": e.verdict_id, "record_sha256": e.record_sha256,
              "previous_hash": e.previous_hash, "hash": e.hash} for e in entries]
    report = verify(chain, records)
    if not report.ok:
        return report
    last = chain[-1]["hash"] if chain else GENESIS
    if head is None or orphans or len(chain) != length or head.head_hash != last:
        return ChainReport(False, len(chain), len(chain))  # a verdict without its entry, or a head off the chain
    return report
