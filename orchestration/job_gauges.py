"""Gauges of the queue as PostgreSQL has it, computed when `/metrics` is scraped.

One bounded query over live jobs (queued or running) and the quarantined ones (set aside by an
operator: never claimed, but their round waits for them, so an operator must see them), grouped by
queue, group (tenant) and status, with a statement timeout; its answer is kept for `CACHE_SECONDS` in
each process, so however often (and from however many scrapers) `/metrics` is read, one web process
asks PostgreSQL at most once per `CACHE_SECONDS`. Past `SCAN_LIMIT` jobs the counts stop growing and
`relay_job_gauges_capped` is 1.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from django.db import connection, transaction

from .models import Job

logger = logging.getLogger(__name__)

CACHE_SECONDS = 2.0
SCAN_LIMIT = 200_000
STATEMENT_TIMEOUT_MS = 2000
STATUSES = ("due", "delayed", "running", "quarantined")

_QUERY = """
SELECT queue, group_key,
       CASE WHEN state IN ('running', 'quarantined') THEN state
            WHEN available_at <= now() THEN 'due' ELSE 'delayed' END,
       count(*),
       extract(epoch FROM now() - min(available_at) FILTER (WHERE state = 'queued' AND available_at <= now()))
FROM (
    SELECT queue, group_key, state, available_at FROM orchestration_job
    WHERE state IN ('queued', 'running', 'quarantined') LIMIT %s
) AS live
GROUP BY 1, 2, 3
"""


@dataclass
class JobCounts:
    """Live and quarantined jobs per queue and per (queue, group), by status; the oldest due job's age
    per queue."""

    per_queue: dict[str, dict[str, int]] = field(default_factory=dict)
    per_group: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    oldest_due_seconds: dict[str, float] = field(default_factory=dict)
    capped: bool = False


def job_counts_query() -> JobCounts:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        cursor.execute(_QUERY, [SCAN_LIMIT])
        rows = cursor.fetchall()
    counts = JobCounts()
    scanned = 0
    for queue, group_key, status, count, oldest in rows:
        scanned += int(count)
        queue_counts = counts.per_queue.setdefault(queue, dict.fromkeys(STATUSES, 0))
        queue_counts[status] += int(count)
        counts.per_group.setdefault((queue, group_key), dict.fromkeys(STATUSES, 0))[status] += int(count)
        if oldest is not None:
            counts.oldest_due_seconds[queue] = max(counts.oldest_due_seconds.get(queue, 0.0), max(float(oldest), 0.0))
    counts.capped = scanned >= SCAN_LIMIT
    return counts


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.taken_at = float("-inf")
        self.counts: JobCounts | None = None
        # Queues seen by this process (and the default one): a queue that drains shows zeros instead of
        # vanishing from the scrape.
        self.queues: set[str] = {str(Job._meta.get_field("queue").default)}

    def get(self) -> JobCounts:
        with self.lock:
            if self.counts is None or time.monotonic() - self.taken_at >= CACHE_SECONDS:
                self.counts = job_counts_query()
                self.taken_at = time.monotonic()
                self.queues.update(self.counts.per_queue)
            for queue in self.queues:
                self.counts.per_queue.setdefault(queue, dict.fromkeys(STATUSES, 0))
                self.counts.oldest_due_seconds.setdefault(queue, 0.0)
            return self.counts

    def clear(self) -> None:
        with self.lock:
            self.counts = None


cache = _Cache()


def job_counts() -> JobCounts:
    """The live-job counts, at most `CACHE_SECONDS` old."""
    return cache.get()
