"""Counters that every process on every host adds to, kept in one Redis hash.

Series are stored as their Prometheus text (`name{label="value"}`), so rendering is a read.
Increments made inside a transaction happen only if it commits.
"""

from __future__ import annotations

import logging
import re

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


def incr(name: str, amount: int = 1, **labels: object) -> None:
    field = series(name, **labels)

    def apply() -> None:
        try:
            get_redis().hincrby(METRICS_KEY, field, amount)
        except Exception:  # metrics never break the work they count
            logger.warning("metrics.incr_failed series=%s", field, exc_info=True)

    transaction.on_commit(apply)


def snapshot() -> dict[str, int]:
    raw = get_redis().hgetall(METRICS_KEY)
    return {(key.decode() if isinstance(key, bytes) else key): int(value) for key, value in sorted(raw.items())}


def value(name: str, **labels: object) -> int:
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
