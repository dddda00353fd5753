"""The in-process cache: a dict of token buckets and a dict of expiring values, behind one lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class MemoryCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # bucket -> (tokens, last refill time)
        self._values: dict[str, tuple[str, float]] = {}  # key -> (value, expiry time)

    def take(self, bucket: str, *, rate_per_min: int) -> float:
        capacity, per_s = float(rate_per_min), rate_per_min / 60.0
        with self._lock:
            now = self._clock()
            tokens, since = self._buckets.get(bucket, (capacity, now))
            tokens = min(capacity, tokens + (now - since) * per_s)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / per_s
            self._buckets[bucket] = (tokens - 1 if wait == 0.0 else tokens, now)
        return wait

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._values.get(key)
            if item is None or item[1] <= self._clock():
                self._values.pop(key, None)
                return None
            return item[0]

    def set(self, key: str, value: str, *, ttl_s: int) -> None:
        with self._lock:
            self._values[key] = (value, self._clock() + ttl_s)

    def close(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._values.clear()
