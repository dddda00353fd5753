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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arbiter.provenance import GENESIS, ChainReport, entry_hash, record_hash, seal, verify
from service.store.db import lock_chain, write_transaction
from service.store.tables import Candidate, ChainHead, IdempotencyRecord, ProvenanceEntry, Verdict, ViolationRow


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with another request body."""


@dataclass(frozen=True)
class Saved:
    record: dict[str, Any]
    created: bool  # False: an earlier identical request's verdict was returned


def save_verdict(session: Session, *, record: Mapping[str, Any], principal: str | None,
                 idempotency: tuple[str, str] | None = None) -> Saved:
    """Persist `record` (unsealed) with its chain entry; `idempotency` is (scope key, body sha256)."""
    with write_transaction(session):
        head = lock_chain(session)
        if idempotency is not None:
            seen = session.get(IdempotencyRecord, idempotency[0])
            if seen is not None:
                if seen.body_sha256 != idempotency[1]:
                    raise IdempotencyConflict(idempotency[0])
                return Saved(_load(session, seen.verdict_id), created=False)
        existing = session.get(Verdict, record["verdict_id"])
        sealed = _append(session, head, record, principal) if existing is None else json.loads(existing.record_json)
        if idempotency is not None:
            session.add(IdempotencyRecord(scope_key=idempotency[0], body_sha256=idempotency[1],
                                          verdict_id=record["verdict_id"], created_at=_now()))
        return Saved(sealed, created=existing is None)


def _append(session: Session, head: Any, record: Mapping[str, Any], principal: str | None) -> dict[str, Any]:
    digest = record_hash(record)
    vid = record["verdict_id"]
    entry = {"index": head.length, "verdict_id": vid, "record_sha256": digest, "previous_hash": head.head_hash,
             "hash": entry_hash(head.length, vid, digest, head.head_hash)}
    sealed = seal(record, entry)
    session.add(Verdict(verdict_id=vid, change_id=sealed["change_id"], status=sealed["status"],
                        spec_id=sealed["spec_id"], record_json=json.dumps(sealed, ensure_ascii=False),
                        principal=principal, created_at=_now()))
    session.flush()  # the verdict row before the rows that reference it
    session.add_all(Candidate(verdict_id=vid, candidate_id=c["candidate_id"], status=c["status"],
                              judge_score=c["judge_score"], superseded=c["superseded"]) for c in sealed["candidates"])
    session.add_all(ViolationRow(verdict_id=vid, gate=v["gate"], message=v["message"], waived_by=v["waived_by"])
                    for v in sealed["violations"])
    session.add(ProvenanceEntry(**entry))
    head.length, head.head_hash = head.length + 1, entry["hash"]
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
