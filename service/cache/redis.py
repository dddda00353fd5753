"""The Redis cache shared by every replica: token buckets in one Lua script (atomic, Redis's clock).

Every Redis failure surfaces as `CacheUnavailable`.
"""

from __future__ import annotations

import redis

# KEYS[1] bucket; ARGV[1] capacity, ARGV[2] refill per second. Returns the wait in seconds (0 = allowed).
TAKE = """
local capacity = tonumber(ARGV[1])
local per_s = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local since = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - since) * per_s)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / per_s end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / per_s) + 1)
return tostring(wait)
"""


class CacheUnavailable(RuntimeError):
    """The shared cache cannot be reached."""


class RedisCache:
    def __init__(self, url: str, prefix: str = "ks:"):
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
        self._take = self.client.register_script(TAKE)

    def take(self, bucket: str, *, rate_per_min: int) -> float:
        try:
            return float(self._take(keys=[f"{self.prefix}rl:{bucket}"], args=[rate_per_min, rate_per_min / 60.0]))
        except redis.RedisError as exc:
            raise CacheUnavailable(str(exc)) from None

    def get(self, key: str) -> str | None:
        try:
            return self.client.get(self.prefix + key)
        except redis.RedisError as exc:
            raise CacheUnavailable(str(exc)) from None

    def set(self, key: str, value: str, *, ttl_s: int) -> None:
        try:
            self.client.set(self.prefix + key, value, ex=ttl_s)
        except redis.RedisError as exc:
            raise CacheUnavailable(str(exc)) from None

    def close(self) -> None:
        self.client.close()
