"""Counters that every process on every host adds to, kept in one Redis hash.

Series are stored as their Prometheus text (`name{label="value"}`), so rendering is a read.
Increments made inside a transaction happen only if it commits. Each process buffers its increments
and a background thread adds them to Redis every `FLUSH_SECONDS` (one round trip for many jobs instead
of one per job); a process killed outright loses at most that much of its counts, like any
Prometheus counter on a restart.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import time
from collections import Counter

from django.db import transaction

from .redis_client import get_redis

logger = logging.getLogger(__name__)

METRICS_KEY = "relay:metrics"
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def series(name: str, **labels: object) -> str:
    if not _NAME.match(name):
        raise ValueError(f"bad metric name {name!r}")
    if not labels:
        return name
    inner = ",".join(
        f'{key}="{str(value).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in sorted(labels.items())
    )
    return f"{name}{{{inner}}}"


FLUSH_SECONDS = 0.5


class _Buffer:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.pid: int | None = None

    def add(self, field: str, amount: int) -> None:
        with self.lock:
            self.counts[field] += amount
            if self.pid != os.getpid():  # first use in this process (or after a fork)
                self.pid = os.getpid()
                threading.Thread(target=self._loop, name="relay-metrics", daemon=True).start()

    def flush(self) -> None:
        with self.lock:
            counts, self.counts = self.counts, Counter()
        if not counts:
            return
        try:
            pipe = get_redis().pipeline(transaction=False)
            for field, amount in counts.items():
                pipe.hincrby(METRICS_KEY, field, amount)
            pipe.execute()
        except Exception:  # Redis is away: keep the counts for the next flush
            logger.warning("metrics.flush_failed series=%s", len(counts), exc_info=True)
            with self.lock:
                self.counts.update(counts)

    def _loop(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()


_buffer = _Buffer()
atexit.register(_buffer.flush)


def incr(name: str, amount: int = 1, **labels: object) -> None:
    field = series(name, **labels)
    transaction.on_commit(lambda: _buffer.add(field, amount))


def snapshot() -> dict[str, int]:
    _buffer.flush()
    raw = get_redis().hgetall(METRICS_KEY)
    return {(key.decode() if isinstance(key, bytes) else key): int(value) for key, value in sorted(raw.items())}


def value(name: str, **labels: object) -> int:
    _buffer.flush()
    raw = get_redis().hget(METRICS_KEY, series(name, **labels))
    return int(raw) if raw is not None else 0


def prometheus_text() -> str:
    families: dict[str, list[str]] = {}
    for key, count in snapshot().items():
        families.setdefault(key.split("{", 1)[0], []).append(f"{key} {count}")
    lines: list[str] = []
    for name, samples in sorted(families.items()):
        lines.append(f"# TYPE {name} counter")
        lines.extend(samples)
    return "\n".join(lines) + "\n"
