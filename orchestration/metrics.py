"""Counters and histograms that every process on every host adds to, kept in Redis.

Why Redis and not prometheus_client's multiprocess mode: that mode aggregates the processes of one
host only, and our workers have no HTTP port and may run on any host. With one shared store, any web
process answers `/metrics` for the whole cluster (`exposition.py` renders it with prometheus_client),
a scraper needs one target, and a prefork child that is recycled leaves no files behind.

Series are stored as their Prometheus text (`name{label="value"}`). Increments made inside a
transaction happen only if it commits. Each process buffers its increments and a background thread
adds them to Redis every `FLUSH_SECONDS` (one round trip for many jobs instead of one per job); a
process killed outright loses at most that much of its counts, like any Prometheus counter on a restart.

A histogram is stored as one field per bucket (observations that fell in that bucket, not
cumulative) plus a `sum` field; the exposition makes the buckets cumulative.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.db import transaction
from prometheus_client.utils import floatToGoString

from .metric_catalog import HISTOGRAMS
from .redis_client import get_redis

logger = logging.getLogger(__name__)

METRICS_KEY = "relay:metrics"  # counters: field = series text, value = count
HISTOGRAMS_KEY = "relay:histograms"  # field = series text + "|" + bucket bound (or "sum")
SUM = "sum"
FLUSH_SECONDS = 0.5

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_ESCAPED = re.compile(r"\\[\\\"n]")
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series(name: str, **labels: object) -> str:
    if not _NAME.match(name):
        raise ValueError(f"bad metric name {name!r}")
    if not labels:
        return name
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _unescape(match: re.Match[str]) -> str:
    return _UNESCAPE[match.group(0)]


def series_parse(text: str) -> tuple[str, dict[str, str]]:
    """The inverse of `series`."""
    name, _, rest = text.partition("{")
    return name, {key: _ESCAPED.sub(_unescape, value) for key, value in _LABEL.findall(rest)}


class _Buffer:
    """This process's increments not yet added to Redis: (hash, field) → amount."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.counts: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()
        self.pid: int | None = None

    def after_fork(self) -> None:
        # A prefork child starts with a copy of its parent's unflushed counts (the parent adds those
        # itself: the child must not add them again) and perhaps a lock the flusher held at the fork.
        self._reset()

    def add(self, key: str, field: str, amount: float) -> None:
        with self.lock:
            self.counts[(key, field)] = self.counts.get((key, field), 0) + amount
            if self.pid != os.getpid():  # first use in this process
                self.pid = os.getpid()
                threading.Thread(target=self._loop, name="relay-metrics", daemon=True).start()

    def flush(self) -> None:
        with self.lock:
            counts, self.counts = self.counts, {}
        if not counts:
            return
        try:
            pipe = get_redis().pipeline(transaction=False)
            for (key, field), amount in counts.items():
                if isinstance(amount, int):
                    pipe.hincrby(key, field, amount)
                else:
                    pipe.hincrbyfloat(key, field, amount)
            pipe.execute()
        except Exception:  # Redis is away: keep the counts for the next flush
            logger.warning("metrics.flush_failed series=%s", len(counts), exc_info=True)
            with self.lock:
                for item, amount in counts.items():
                    self.counts[item] = self.counts.get(item, 0) + amount

    def _loop(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()


_buffer = _Buffer()
atexit.register(_buffer.flush)
os.register_at_fork(after_in_child=_buffer.after_fork)


def flush() -> None:
    """Hand this process's buffered counts to Redis now (a pool process that is about to exit)."""
    _buffer.flush()


def incr(name: str, amount: int = 1, **labels: object) -> None:
    """Add to a counter once the surrounding transaction commits (at once outside a transaction)."""
    field = series(name, **labels)
    transaction.on_commit(lambda: _buffer.add(METRICS_KEY, field, amount))


def observe(name: str, value: float, **labels: object) -> None:
    """Add an observation to a histogram declared in `metric_catalog.HISTOGRAMS`, once the
    surrounding transaction commits."""
    histogram = HISTOGRAMS.get(name)
    if histogram is None:
        raise ValueError(f"no histogram {name!r} is declared in metric_catalog.HISTOGRAMS")
    base = series(name, **labels)
    bucket = f"{base}|{floatToGoString(histogram.bucket_for(value))}"
    seconds = float(value)

    def add() -> None:
        _buffer.add(HISTOGRAMS_KEY, bucket, 1)
        _buffer.add(HISTOGRAMS_KEY, f"{base}|{SUM}", seconds)

    transaction.on_commit(add)


F = TypeVar("F", bound=Callable[..., Any])


def failures_counted(name: str) -> Callable[[F], F]:
    """Count each call of the decorated function that raises (and re-raise). Counted at once: the
    transaction the failure happened in is usually rolled back."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception:
                _buffer.add(METRICS_KEY, series(name), 1)
                raise

        return cast(F, wrapper)

    return decorate


def _decoded(raw: dict[Any, Any]) -> dict[str, str]:
    return {
        (key.decode() if isinstance(key, bytes) else key): (value.decode() if isinstance(value, bytes) else value)
        for key, value in raw.items()
    }


def snapshot() -> dict[str, int]:
    """Every counter series of the cluster: series text → count."""
    _buffer.flush()
    return {key: int(value) for key, value in sorted(_decoded(get_redis().hgetall(METRICS_KEY)).items())}


def value(name: str, **labels: object) -> int:
    _buffer.flush()
    raw = get_redis().hget(METRICS_KEY, series(name, **labels))
    return int(raw) if raw is not None else 0


def histogram_snapshot() -> dict[str, dict[str, Any]]:
    """Every histogram series of the cluster: series text → {"buckets": {le: cumulative count},
    "count", "sum"}, with every declared bucket present."""
    _buffer.flush()
    per_series: dict[str, dict[str, float]] = {}
    for field, amount in _decoded(get_redis().hgetall(HISTOGRAMS_KEY)).items():
        base, _, slot = field.rpartition("|")
        per_series.setdefault(base, {})[slot] = float(amount)
    out: dict[str, dict[str, Any]] = {}
    for base, slots in sorted(per_series.items()):
        histogram = HISTOGRAMS.get(series_parse(base)[0])
        if histogram is None:  # a histogram no longer declared: its old fields are ignored
            continue
        running = 0
        buckets: dict[str, int] = {}
        for bound in histogram.buckets:
            label = floatToGoString(bound)
            running += int(slots.get(label, 0))
            buckets[label] = running
        out[base] = {"buckets": buckets, "count": running, "sum": slots.get(SUM, 0.0)}
    return out


def observations(name: str, **labels: object) -> tuple[int, float]:
    """(count, sum) of one histogram series."""
    found = histogram_snapshot().get(series(name, **labels))
    return (0, 0.0) if found is None else (int(found["count"]), float(found["sum"]))


def prometheus_text() -> str:
    """`/metrics`: the cluster's counters and histograms and the job gauges, in Prometheus text."""
    from .exposition import render

    return render().decode()
