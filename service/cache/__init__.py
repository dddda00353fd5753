"""Shared fast state of the CAWS service: token-bucket rate limits and the idempotency fast path.

One interface, two implementations: `RedisCache` (KS_REDIS_URL; shared by every replica) and
`MemoryCache` (one process, the embedded default). The database stays the source of truth; the
cache only answers sooner or refuses sooner.
"""

from __future__ import annotations

from typing import Protocol

from service.cache.memory import MemoryCache
from service.cache.redis import CacheUnavailable, RedisCache


class Cache(Protocol):
    def take(self, bucket: str, *, rate_per_min: int) -> float:
        """Take one token from `bucket` (capacity and refill `rate_per_min` per minute).

        Returns 0.0 when the request may go ahead, else the seconds until a token is available.
        """
        ...

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, *, ttl_s: int) -> None: ...

    def close(self) -> None: ...


def make_cache(redis_url: str | None, prefix: str = "ks:") -> Cache:
    return RedisCache(redis_url, prefix) if redis_url else MemoryCache()


__all__ = ["Cache", "CacheUnavailable", "MemoryCache", "RedisCache", "make_cache"]
