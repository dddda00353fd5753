"""The provenance hash chain: append, seal, verify and tamper detection."""

from __future__ import annotations

import copy
import datetime as dt

from arbiter.provenance import GENESIS, append, entry_hash, record_hash, seal, verify
from arbiter.schema import validate

from .builders import NOW, plea, verdict


def chain_of(n: int):
    chain, records = [], {}
    for i in range(n):
        record = verdict(pleas=[plea(rationale=f"Rationale {i} for src/auth.")], now=NOW + dt.timedelta(minutes=i))
        entry = append(chain, record)
        chain.append(entry)
        records[record["verdict_id"]] = seal(record, entry)
    return chain, records


def test_entries_link_by_previous_hash_from_genesis():
    chain, records = chain_of(3)
    assert chain[0]["previous_hash"] == GENESIS
    assert [e["index"] for e in chain] == [0, 1, 2]
    assert all(chain[i]["previous_hash"] == chain[i - 1]["hash"] for i in (1, 2))
    assert verify(chain, records).to_dict() == {"ok": True, "length": 3, "first_bad_index": None}


def test_sealing_a_record_keeps_it_schema_valid_and_hash_stable():
    chain, records = chain_of(1)
    sealed = records[chain[0]["verdict_id"]]
    assert sealed["provenance"] == {"entry_hash": chain[0]["hash"], "previous_hash": GENESIS}
    assert validate("caws_verdict", sealed) == ()
    assert record_hash(sealed) == chain[0]["record_sha256"]


def test_an_edited_middle_entry_is_found():
    chain, _ = chain_of(3)
    tampered = copy.deepcopy(chain)
    tampered[1]["record_sha256"] = "f" * 64
    assert verify(tampered).to_dict() == {"ok": False, "length": 3, "first_bad_index": 1}


def test_a_middle_entry_rehashed_by_the_tamperer_still_breaks_the_next_link():
    chain, _ = chain_of(3)
    tampered = copy.deepcopy(chain)
    entry = tampered[1]
    entry["record_sha256"] = "e" * 64
    entry["hash"] = entry_hash(1, entry["verdict_id"], entry["record_sha256"], entry["previous_hash"])
    assert verify(tampered).first_bad_index == 2


def test_an_edited_record_is_found_when_records_are_given():
    chain, records = chain_of(3)
    edited = copy.deepcopy(records)
    middle = chain[1]["verdict_id"]
    edited[middle]["status"] = "FAIL"
    assert verify(chain, edited).first_bad_index == 1
    del edited[middle]
    assert verify(chain, edited).first_bad_index == 1


def test_removed_or_reordered_entries_are_found():
    chain, _ = chain_of(3)
    assert verify([chain[0], chain[2]]).first_bad_index == 1
    assert verify([chain[1], chain[0], chain[2]]).first_bad_index == 0
    assert verify([{**chain[0], "hash": "zz"}]).first_bad_index == 0


def test_an_empty_chain_is_ok():
    assert verify([]).to_dict() == {"ok": True, "length": 0, "first_bad_index": None}
