"""Two `kimi-student serve` processes sharing one PostgreSQL and one Redis: no lost or forked verdicts.

Each test gets its own database and Redis prefix. The load is sent from a thread pool, spread over
both replicas; the chain and the rows are then checked directly in the database and through the API.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from service.store import Store, db
from service.store.keys import create_key
from service.store.tables import ProvenanceEntry, Verdict
from tests.caws_service.conftest import REDIS, drop_postgres_database, flush_prefix, plea_body, postgres_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A fresh database, a Redis prefix, and two replicas serving the CAWS endpoints only."""

    def __init__(self, tmp: Path):
        self.tmp, self.name = tmp, f"ks_rep_{uuid.uuid4().hex[:12]}"
        self.prefix = f"kstest:{uuid.uuid4().hex[:12]}:"
        self.url = postgres_database(self.name)
        db.upgrade(self.url)
        self.store = Store.open(self.url, migrate=False)
        self.procs: list[subprocess.Popen] = []
        self.urls: list[str] = []

    def key(self, rate_limit_per_min: int | None = None) -> dict[str, str]:
        with self.store.sessions() as session:
            key = create_key(session, name=uuid.uuid4().hex[:10], scopes=["adjudicate"],
                             rate_limit_per_min=rate_limit_per_min)
        return {"Authorization": f"Bearer {key}"}

    def start(self, replicas: int = 2) -> None:
        env = {**os.environ, "KS_DATABASE_URL": self.url, "KS_REDIS_URL": REDIS, "KS_REDIS_PREFIX": self.prefix,
               "KS_MODELS": "", "KS_ARTIFACTS": str(self.tmp / "no-artifacts"), "KS_LOG_LEVEL": "warning"}
        for i in range(replicas):
            port = free_port()
            log = open(self.tmp / f"replica{i}.log", "wb")  # noqa: SIM115 (closed with the process)
            self.procs.append(subprocess.Popen([sys.executable, "-m", "kimi_student", "serve", "--port", str(port)],
                                               env=env, stdout=log, stderr=subprocess.STDOUT))
            self.urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(self.urls, self.procs, strict=True):
            self._wait(url, proc)

    def _wait(self, url: str, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, (self.tmp / "replica0.log").read_text(errors="replace")
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise TimeoutError(f"{url} did not come up")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.store.close()
        drop_postgres_database(self.name)
        flush_prefix(self.prefix)

    def counts(self) -> tuple[int, int]:
        with self.store.sessions() as session:
            return (session.execute(select(func.count()).select_from(Verdict)).scalar_one(),
                    session.execute(select(func.count()).select_from(ProvenanceEntry)).scalar_one())

    def stored_ids(self) -> set[str]:
        with self.store.sessions() as session:
            return set(session.execute(select(Verdict.verdict_id)).scalars())


@pytest.fixture()
def cluster(tmp_path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def send(url: str, body: dict, headers: dict[str, str]) -> tuple[int, dict | None]:
    try:
        r = httpx.post(url + "/caws/adjudicate", json=body, headers=headers, timeout=60)
    except httpx.HTTPError:
        return 0, None  # the replica died under this request
    return r.status_code, r.json()


def load(cluster: Cluster, n: int, headers: dict[str, str], workers: int = 16) -> list[tuple[int, dict | None]]:
    bodies = [plea_body(change_id=f"LOAD-{i}-{uuid.uuid4().hex[:6]}") for i in range(n)]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda i: send(cluster.urls[i % len(cluster.urls)], bodies[i], headers), range(n)))


def test_concurrent_adjudications_never_fork_the_chain(cluster: Cluster) -> None:
    """200 concurrent adjudications over two replicas -> 200 distinct verdicts, one unbroken chain of 200."""
    results = load(cluster, 200, cluster.key())
    assert [code for code, _ in results] == [200] * 200
    ids = {body["verdict_id"] for _, body in results}
    assert len(ids) == 200 and cluster.stored_ids() == ids
    for url in cluster.urls:
        report = httpx.get(url + "/caws/provenance/verify", headers=cluster.key()).json()
        assert report == {"ok": True, "length": 200, "first_bad_index": None}


def test_rate_limit_is_global(cluster: Cluster) -> None:
    """A key limited to N per minute gets N successes in total across both replicas, not 2N."""
    n, headers = 20, cluster.key(rate_limit_per_min=20)
    start = time.monotonic()
    codes = [code for code, _ in load(cluster, 60, headers, workers=8)]
    refilled = (time.monotonic() - start) * n / 60
    assert n <= codes.count(200) <= n + int(refilled) + 1
    assert codes.count(200) + codes.count(429) == 60


def test_kill_9_mid_load_loses_nothing(cluster: Cluster) -> None:
    """kill -9 one replica during the load: every 200 has its verdict, every verdict its entry, the chain holds."""
    headers = cluster.key()
    victim = cluster.procs[1]

    def killer() -> None:
        while cluster.counts()[0] < 40:
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)

    with ThreadPoolExecutor(1) as pool:
        killed = pool.submit(killer)
        results = load(cluster, 160, headers)
        killed.result(timeout=60)
    assert victim.wait(timeout=10) == -signal.SIGKILL
    ok = {body["verdict_id"] for code, body in results if code == 200}
    assert any(code != 200 for code, _ in results) and len(ok) >= 80
    stored = cluster.stored_ids()
    assert ok <= stored
    verdicts, entries = cluster.counts()
    assert verdicts == entries == len(stored)
    report = httpx.get(cluster.urls[0] + "/caws/provenance/verify", headers=headers).json()
    assert report == {"ok": True, "length": len(stored), "first_bad_index": None}
