"""The store without HTTP: concurrent writer processes on one SQLite file keep one chain; tampering is found."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select, update

from arbiter.loaders import read_policy
from arbiter.request import adjudicate_request
from service.store import Store, db
from service.store.tables import Verdict
from service.store.verdicts import save_verdict, verify_chain
from tests.caws_service.conftest import plea_body

WRITER = """
import datetime as dt, json, sys, uuid
from arbiter.loaders import read_policy
from arbiter.request import adjudicate_request
from service.store import Store
from service.store.verdicts import save_verdict
body = json.loads(sys.argv[4])
store, policy = Store.open(sys.argv[1], migrate=False), read_policy().unwrap()
for _ in range(int(sys.argv[2])):
    body["change_id"] = uuid.uuid4().hex
    record = adjudicate_request(body, policy=policy, default_now=dt.datetime.now(dt.UTC)).unwrap()
    with store.sessions() as session:
        save_verdict(session, record=record, principal=sys.argv[3])
"""


def test_writer_processes_share_one_sqlite_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chain.db'}"
    db.upgrade(url)
    root = Path(__file__).resolve().parents[2]
    body = json.dumps(plea_body())
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, "20", f"w{i}", body], cwd=root) for i in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    store = Store.open(url, migrate=False)
    with store.sessions() as session:
        assert verify_chain(session).to_dict() == {"ok": True, "length": 60, "first_bad_index": None}
    store.close()


def test_tampering_with_a_stored_record_breaks_the_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tamper.db'}"
    store = Store.open(url, migrate=True)
    policy = read_policy().unwrap()
    for _ in range(3):
        record = adjudicate_request(plea_body(), policy=policy, default_now=dt.datetime.now(dt.UTC)).unwrap()
        with store.sessions() as session:
            save_verdict(session, record=record, principal="t")
    with store.sessions() as session, session.begin():
        second = session.execute(select(Verdict).order_by(Verdict.created_at).offset(1)).scalars().first()
        record = json.loads(second.record_json)
        session.execute(update(Verdict).where(Verdict.verdict_id == second.verdict_id)
                        .values(record_json=json.dumps({**record, "trust_score": 100})))
    with store.sessions() as session:
        report = verify_chain(session)
    assert not report.ok and report.first_bad_index is not None and report.length == 3
    store.close()


def test_a_verdict_without_its_entry_breaks_the_chain(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'orphan.db'}", migrate=True)
    policy = read_policy().unwrap()
    record = adjudicate_request(plea_body(), policy=policy, default_now=dt.datetime.now(dt.UTC)).unwrap()
    with store.sessions() as session:
        save_verdict(session, record=record, principal="t")
    with store.sessions() as session, session.begin():
        session.add(Verdict(verdict_id="CAWS-VERDICT-ORPHANORPHANORPH", change_id="x", status="PASS", spec_id="X-1",
                            record_json="{}", principal=None, created_at=dt.datetime.now(dt.UTC)))
    with store.sessions() as session:
        assert verify_chain(session).to_dict() == {"ok": False, "length": 1, "first_bad_index": 1}
    store.close()


HOLDER = """
import sys, time
from service.store import Store
from service.store.db import write_transaction
store = Store.open(sys.argv[1], migrate=False)
with store.sessions() as session, write_transaction(session):
    print("holding", flush=True)
    time.sleep(600)
"""


def test_a_writer_killed_while_holding_the_write_lock_blocks_nobody(tmp_path: Path) -> None:
    """The in-process and cross-process writer lock (flock) dies with its process, as SQLite's own does."""
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    db.upgrade(url)
    root = Path(__file__).resolve().parents[2]
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url], cwd=root, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    holder.kill()  # SIGKILL: no cleanup runs
    holder.wait(timeout=30)
    store = Store.open(url, migrate=False)
    now = dt.datetime.now(dt.UTC)
    record = adjudicate_request(plea_body(), policy=read_policy().unwrap(), default_now=now).unwrap()
    with store.sessions() as session:
        assert save_verdict(session, record=record, principal="after").created
    with store.sessions() as session:
        assert verify_chain(session).to_dict() == {"ok": True, "length": 1, "first_bad_index": None}
    store.close()
