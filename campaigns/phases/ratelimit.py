"""Per-persona rate limits for the phases. A batch asks its `LimiterSource` for one limiter per persona
(keyed by the persona's id) and closes the source when it ends. The default limits within this process
only; the campaign jobs pass `core.shared_rate_limit.SharedLimiters`, which holds each persona's rate
across every worker process."""

from __future__ import annotations

from typing import Protocol

from core.shared_rate_limit import Limiter, LocalRateLimiter

__all__ = ["Limiter", "LimiterSource", "LocalLimiters"]


class LimiterSource(Protocol):
    def limiter(self, key: str, per_second: float) -> Limiter: ...

    async def close(self) -> None: ...


class LocalLimiters:
    def limiter(self, key: str, per_second: float) -> Limiter:
        return LocalRateLimiter(per_second)

    async def close(self) -> None:
        return None
