"""A rate limit shared by every process (GCRA in one Redis Lua script, on Redis server time).

One key per limited thing (a persona id): however many worker processes send for it, together they
stay within `per_second` (plus a burst of one). The script admits a request or answers how long to
wait; a caller sleeps that long and asks again, so nothing is reserved by a process that dies.

If Redis cannot be reached the limiter falls back to a per-process limit of `per_second` divided by
`RELAY_RATE_LIMIT_FALLBACK_PROCESSES` (the deployment's worker process count, default 4), logs it, and
asks Redis again after `_RETRY_REDIS_SECONDS`: with that many processes or fewer the total still stays
within the limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

import redis.asyncio as aioredis
import redis.exceptions
from django.conf import settings

logger = logging.getLogger(__name__)

_KEY_PREFIX = "relay:rate:"
_RETRY_REDIS_SECONDS = 5.0

# KEYS[1]: the key; ARGV[1]: microseconds per request. Returns 0 (admitted) or microseconds to wait.
# TAT: the theoretical arrival time of the next request; one request may come at once (burst 1).
_GCRA = """
local interval = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > 0 then return tat - now end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil(interval / 1000) + 1000)
return 0
"""


class Limiter(Protocol):
    async def acquire(self) -> None: ...


class LocalRateLimiter:
    """An asyncio limiter for one process: requests at most every `1 / per_second` seconds."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.per_second <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(self._next, now) + 1.0 / self.per_second
        if wait > 0:
            await asyncio.sleep(wait)


class SharedRateLimiter:
    """`per_second` requests for `key` across every process using the same Redis."""

    def __init__(self, client: aioredis.Redis, key: str, per_second: float, *, fallback_processes: int) -> None:
        self.key = _KEY_PREFIX + key
        self.per_second = per_second
        self._client = client
        self._script = client.register_script(_GCRA)
        self._interval_us = max(1, round(1_000_000 / per_second)) if per_second > 0 else 0
        self._lock = asyncio.Lock()  # one caller per process asks Redis at a time: no herd polling it
        self._fallback = LocalRateLimiter(per_second / max(fallback_processes, 1))
        self._redis_down_until = 0.0

    async def acquire(self) -> None:
        if self.per_second <= 0:
            return
        async with self._lock:
            while True:
                if time.monotonic() < self._redis_down_until:
                    break
                try:
                    wait_us = int(await self._script(keys=[self.key], args=[self._interval_us]))
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
                    logger.warning(
                        "rate_limit.redis_unreachable key=%s fallback_per_second=%.3f",
                        self.key,
                        self._fallback.per_second,
                    )
                    self._redis_down_until = time.monotonic() + _RETRY_REDIS_SECONDS
                    break
                if wait_us <= 0:
                    return
                await asyncio.sleep(wait_us / 1_000_000)
        await self._fallback.acquire()


class SharedLimiters:
    """Limiters for one batch (one event loop): `limiter(key, per_second)`, then `close()`."""

    def __init__(self, url: str | None = None, *, fallback_processes: int | None = None) -> None:
        self._url = url or settings.REDIS_URL
        self._fallback_processes = fallback_processes or int(
            getattr(settings, "RELAY_RATE_LIMIT_FALLBACK_PROCESSES", 4)
        )
        self._client: aioredis.Redis | None = None

    def limiter(self, key: str, per_second: float) -> Limiter:
        if per_second <= 0 or not key:
            return LocalRateLimiter(per_second)
        if self._client is None:
            self._client = aioredis.Redis.from_url(self._url, socket_connect_timeout=1, socket_timeout=1)
        return SharedRateLimiter(self._client, key, per_second, fallback_processes=self._fallback_processes)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
