"""Waivers and their approvals (CONTRACTS 2.4): created `proposed`, `active` once approved enough, `revoked` for good.

A waiver's public document is its stored fields plus `approvers` (one row per principal, the
database refuses a second) and `status`. The creator's own approval is refused before it is stored.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arbiter.codec import format_time
from arbiter.policy import Policy
from service.store.db import write_transaction
from service.store.tables import Approval, WaiverRow


class WaiverNotFound(LookupError):
    pass


class SelfApproval(PermissionError):
    pass


class WaiverRevoked(RuntimeError):
    pass


def public(row: WaiverRow, approvals: list[Approval]) -> dict[str, Any]:
    doc = json.loads(row.doc_json)
    doc["approvers"] = [{"handle": a.handle, "approved_at": format_time(a.approved_at)}
                        for a in sorted(approvals, key=lambda a: (a.approved_at, a.id))]
    doc["status"] = row.status
    return doc


def _approvals(session: Session, waiver_id: str) -> list[Approval]:
    return list(session.execute(select(Approval).where(Approval.waiver_id == waiver_id)).scalars())


def create_waiver(session: Session, *, doc: dict[str, Any], created_by: str, expires_at: dt.datetime) -> dict:
    """Store a `proposed` waiver under the next free id `WV-NNNN` (retried if another writer took it)."""
    for _ in range(5):
        try:
            with write_transaction(session):
                last = session.execute(select(func.max(WaiverRow.id))).scalar_one_or_none()
                waiver_id = f"WV-{int(last[3:]) + 1 if last else 1:04d}"
                now = dt.datetime.now(dt.UTC)
                stored = {**doc, "id": waiver_id, "created_by": created_by, "created_at": format_time(now)}
                row = WaiverRow(id=waiver_id, applies_to=doc["applies_to"], status="proposed", created_by=created_by,
                                created_at=now, expires_at=expires_at, doc_json=json.dumps(stored, ensure_ascii=False))
                session.add(row)
            return public(row, [])
        except IntegrityError:
            continue
    raise RuntimeError("could not allocate a waiver id")


def get_waiver(session: Session, *, waiver_id: str) -> dict[str, Any] | None:
    with session.begin():
        row = session.get(WaiverRow, waiver_id)
        return public(row, _approvals(session, waiver_id)) if row else None


def list_waivers(session: Session, *, applies_to: str | None = None, status: str | None = None) -> list[dict]:
    query = select(WaiverRow).order_by(WaiverRow.id)
    if applies_to is not None:
        query = query.where(WaiverRow.applies_to == applies_to)
    if status is not None:
        query = query.where(WaiverRow.status == status)
    with session.begin():
        return [public(r, _approvals(session, r.id)) for r in session.execute(query).scalars().all()]


def waivers_by_id(session: Session, *, ids: list[str]) -> dict[str, dict[str, Any]]:
    with session.begin():
        rows = session.execute(select(WaiverRow).where(WaiverRow.id.in_(ids))).scalars().all()
        return {r.id: public(r, _approvals(session, r.id)) for r in rows}


def approve_waiver(session: Session, *, waiver_id: str, handle: str, policy: Policy) -> tuple[dict, bool]:
    """Add `handle`'s approval (once); activate the waiver when it holds enough. Returns (waiver, added)."""
    try:
        with write_transaction(session):
            row = _locked(session, waiver_id)
            if row.created_by == handle:
                raise SelfApproval(f"{handle} created {waiver_id} and cannot approve it")
            if row.status == "revoked":
                raise WaiverRevoked(f"{waiver_id} is revoked")
            approvals = _approvals(session, waiver_id)
            added = handle not in {a.handle for a in approvals}
            if added:
                approval = Approval(waiver_id=waiver_id, handle=handle, approved_at=dt.datetime.now(dt.UTC))
                session.add(approval)
                approvals.append(approval)
            delta = json.loads(row.doc_json)["delta"]
            needed = policy.min_approvers_for_budget_raise if any(delta.values()) else policy.min_approvers
            counted = {a.handle for a in approvals if a.handle != row.created_by}
            if row.status == "proposed" and len(counted) >= needed:
                row.status = "active"
            session.flush()
            return public(row, approvals), added
    except IntegrityError:  # the same principal approving twice at the same moment: counted once
        return get_waiver(session, waiver_id=waiver_id), False


def revoke_waiver(session: Session, *, waiver_id: str) -> dict[str, Any]:
    with write_transaction(session):
        row = _locked(session, waiver_id)
        row.status = "revoked"
        return public(row, _approvals(session, waiver_id))


def _locked(session: Session, waiver_id: str) -> WaiverRow:
    row = session.execute(select(WaiverRow).where(WaiverRow.id == waiver_id).with_for_update()).scalar_one_or_none()
    if row is None:
        raise WaiverNotFound(waiver_id)
    return row
