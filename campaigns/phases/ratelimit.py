"""An asyncio token bucket shared by the tasks of one persona."""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
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
