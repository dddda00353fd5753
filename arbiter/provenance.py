"""The provenance hash chain of verdict records (SHA-256).

Entry i is `{index, verdict_id, record_sha256, previous_hash, hash}` where `record_sha256` is the
SHA-256 of the canonical JSON of the record without its `provenance` field (which holds the
chain position and is filled in by `seal`), `previous_hash` is entry i-1's `hash` (64 zeros for
the first) and `hash` covers the other four fields. `verify` recomputes everything and reports
the first index where the chain no longer holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arbiter.codec import sha256_hex
from arbiter.schema import validate

GENESIS = "0" * 64


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    length: int
    first_bad_index: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "length": self.length, "first_bad_index": self.first_bad_index}


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of a verdict record, ignoring the `provenance` field the chain itself fills in."""
    return sha256_hex({k: v for k, v in record.items() if k != "provenance"})


def entry_hash(index: int, verdict_id: str, record_sha256: str, previous_hash: str) -> str:
    return sha256_hex({"index": index, "verdict_id": verdict_id, "record_sha256": record_sha256,
                       "previous_hash": previous_hash})


def append(chain: Sequence[Mapping[str, Any]], record: Mapping[str, Any]) -> dict[str, Any]:
    """The next entry for `record`; the caller stores it (the chain is never mutated here)."""
    index = len(chain)
    previous = chain[-1]["hash"] if chain else GENESIS
    digest = record_hash(record)
    entry = {"index": index, "verdict_id": record["verdict_id"], "record_sha256": digest,
             "previous_hash": previous, "hash": entry_hash(index, record["verdict_id"], digest, previous)}
    errors = validate("provenance_entry", entry)
    if errors:
        raise ValueError("; ".join(map(str, errors)))
    return entry


def seal(record: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """The record with `provenance {entry_hash, previous_hash}` taken from its chain entry."""
    return {**record, "provenance": {"entry_hash": entry["hash"], "previous_hash": entry["previous_hash"]}}


def verify(chain: Sequence[Mapping[str, Any]],
           records: Mapping[str, Mapping[str, Any]] | None = None) -> ChainReport:
    """Check links and hashes; with `records` (by verdict id) also check each record's hash."""
    previous = GENESIS
    for i, entry in enumerate(chain):
        if not _entry_ok(i, entry, previous, records):
            return ChainReport(False, len(chain), i)
        previous = entry["hash"]
    return ChainReport(True, len(chain), None)


def _entry_ok(i: int, entry: Mapping[str, Any], previous: str,
              records: Mapping[str, Mapping[str, Any]] | None) -> bool:
    if not isinstance(entry, Mapping) or validate("provenance_entry", dict(entry)):
        return False
    if entry["index"] != i or entry["previous_hash"] != previous:
        return False
    if entry["hash"] != entry_hash(i, entry["verdict_id"], entry["record_sha256"], previous):
        return False
    if records is not None:
        record = records.get(entry["verdict_id"])
        if record is None or record_hash(record) != entry["record_sha256"]:
            return False
    return True
