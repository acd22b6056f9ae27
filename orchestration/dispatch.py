"""Doorbells: a message says "queue Q has work", never which job. PostgreSQL is the queue.

A worker that gets a doorbell drains Q (`runner.queue_drain`): it claims due jobs itself until none is
claimable or its time slice ends. So a lost doorbell loses nothing (the reconciler rings again), a
duplicated or late one finds nothing to claim, and one message serves many jobs.

- After a commit that made jobs due, the committing process rings up to `BELLS_MAX` bells for their
  queue (enough to wake that many idle worker processes), fewer when bells already wait there.
- The reconciler (control lane, every `RECONCILE_SECONDS`) compares counts: a queue that has due jobs
  and that no drain has looked at for `RECONCILE_IDLE_SECONDS` gets its bells rung. That covers a
  broker that was down at commit, a process killed before its bells, Redis flushed or restarted
  without its data, delayed retries and scheduled work becoming due, and database errors in a drain.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable

from celery import current_app
from django.db import connection, transaction

from . import metrics
from .conf import engine_setting
from .redis_client import get_redis

logger = logging.getLogger(__name__)

DRAIN_TASK = "orchestration.drain"
LOOKED_KEY = "relay:looked:"  # + queue: when a drain last looked for work there (unix time)


def ring(queue: str, *, wanted: int) -> int:
    """Ring up to `wanted` bells for `queue` (capped by `BELLS_MAX` minus the bells already waiting).
    Returns how many were sent. A failure is logged, not raised: the reconciler rings again."""
    try:
        waiting = int(get_redis().llen(queue))
        count = max(0, min(wanted, int(engine_setting("BELLS_MAX")) - waiting))
        if count:
            with current_app.producer_or_acquire() as producer:
                for _ in range(count):
                    current_app.send_task(DRAIN_TASK, args=[queue], queue=queue, producer=producer)
        return count
    except Exception:  # the broker is down or unreachable: the reconciler covers it
        logger.warning("engine.ring_failed queue=%s wanted=%s", queue, wanted, exc_info=True)
        metrics.incr("relay_ring_failures_total", queue=queue)
        return 0


def ring_on_commit(queues: Iterable[str]) -> None:
    """After the surrounding transaction commits, ring for every job made due in it (one entry per
    job; `ring` caps the count)."""
    wanted = Counter(queues)
    if not wanted:
        return

    def ring_all() -> None:
        for queue, count in wanted.items():
            ring(queue, wanted=count)

    transaction.on_commit(ring_all)


_last_looked: dict[str, float] = {}  # per process: when this process last said so, per queue
LOOKED_EVERY_SECONDS = 0.5  # well below RECONCILE_IDLE_SECONDS, so a busy queue is never rung for


def drain_looked(queue: str) -> None:
    """A drain is looking at `queue` (the reconciler leaves a queue alone while drains look). Said at
    most every `LOOKED_EVERY_SECONDS` per process: one Redis write per claim would cost a round trip
    per job."""
    now = time.time()
    if now - _last_looked.get(queue, 0.0) < LOOKED_EVERY_SECONDS:
        return
    _last_looked[queue] = now
    try:
        get_redis().set(f"{LOOKED_KEY}{queue}", f"{now:.3f}", ex=3600)
    except Exception:
        logger.warning("engine.looked_failed queue=%s", queue, exc_info=True)


def due_counts() -> dict[str, int]:
    """Due queued jobs per queue (bounded scan)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT queue, count(*) FROM (
                SELECT queue FROM orchestration_job WHERE state = 'queued' AND available_at <= now() LIMIT 100000
            ) AS due GROUP BY queue
            """
        )
        return {queue: int(count) for queue, count in cursor.fetchall()}


@metrics.failures_counted("relay_reconcile_failures_total")
def reconcile() -> dict[str, int]:
    """Ring every queue whose due jobs nobody is draining. Returns the bells rung per queue."""
    idle = engine_setting("RECONCILE_IDLE_SECONDS")
    rung: dict[str, int] = {}
    redis = get_redis()
    for queue, due in due_counts().items():
        looked = redis.get(f"{LOOKED_KEY}{queue}")
        if looked is not None and time.time() - float(looked) < idle:
            continue  # a drain looked lately: it claims what it can and rings again when its slice ends
        rung[queue] = ring(queue, wanted=due)
        if rung[queue]:
            logger.info("engine.reconcile queue=%s due=%s rung=%s", queue, due, rung[queue])
    metrics.incr("relay_reconcile_runs_total")
    return rung
