"""The cache interface, against the in-process implementation and the real Redis (own key prefix only)."""

from __future__ import annotations

import threading
import uuid

import pytest

from service.cache import Cache, MemoryCache, RedisCache
from tests.caws_service.conftest import REDIS, flush_prefix


@pytest.fixture(params=["memory", "redis"])
def cache(request) -> Cache:
    if request.param == "memory":
        yield MemoryCache()
        return
    prefix = f"kstest:{uuid.uuid4().hex[:12]}:"
    c = RedisCache(REDIS, prefix)
    yield c
    c.close()
    flush_prefix(prefix)


def test_bucket_allows_its_capacity_then_waits(cache: Cache) -> None:
    waits = [cache.take("k", rate_per_min=5) for _ in range(7)]
    assert waits[:5] == [0.0] * 5
    assert all(11 < w <= 12 for w in waits[5:])  # one token per 12 s
    assert cache.take("other", rate_per_min=5) == 0.0  # buckets are independent


def test_bucket_is_atomic_under_threads(cache: Cache) -> None:
    allowed = []

    def worker() -> None:
        for _ in range(10):
            allowed.append(cache.take("shared", rate_per_min=25) == 0.0)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) in (25, 26)  # 25 in the bucket; at most one refilled while 80 calls ran


def test_values_expire(cache: Cache) -> None:
    assert cache.get("idem:x") is None
    cache.set("idem:x", "[1, 2]", ttl_s=60)
    assert cache.get("idem:x") == "[1, 2]"


def test_memory_values_expire_by_the_clock() -> None:
    now = [0.0]
    cache = MemoryCache(clock=lambda: now[0])
    cache.set("a", "b", ttl_s=10)
    now[0] = 9.9
    assert cache.get("a") == "b"
    now[0] = 10.0
    assert cache.get("a") is None
    for _ in range(2):
        assert cache.take("r", rate_per_min=2) == 0.0
    assert cache.take("r", rate_per_min=2) == pytest.approx(30.0)
    now[0] += 30.0
    assert cache.take("r", rate_per_min=2) == 0.0
