"""Publishing jobs to the broker: only after commit, and again by the relay when a message was lost."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from celery import current_app
from django.db import connection, transaction

from .conf import engine_setting
from .redis_client import get_redis

logger = logging.getLogger(__name__)

RUN_JOB_TASK = "orchestration.run_job"
PUBLISH_JOBS_TASK = "orchestration.publish_jobs"
FAN_OUT_CHUNK = 500


@dataclass(frozen=True)
class Dispatch:
    job_id: int
    key: str
    queue: str
    countdown: float | None = None


def publish_now(dispatches: Sequence[Dispatch]) -> int:
    """Send one message per job, task id = job key. Returns how many were sent.

    A failure is logged, not raised: the jobs are safe in PostgreSQL and the relay sends them later.
    """
    sent = 0
    try:
        with current_app.producer_or_acquire() as producer:
            for item in dispatches:
                current_app.send_task(
                    RUN_JOB_TASK,
                    args=[item.job_id],
                    task_id=item.key,
                    queue=item.queue,
                    countdown=item.countdown,
                    producer=producer,
                )
                sent += 1
    except Exception:  # the broker is down or unreachable: the relay covers it
        logger.warning("engine.publish_failed sent=%s unsent=%s", sent, len(dispatches) - sent, exc_info=True)
    return sent


def publish_on_commit(dispatches: Sequence[Dispatch]) -> None:
    """Publish after the surrounding transaction commits; a large batch goes through one fan-out task
    so that the committing request answers fast."""
    if not dispatches:
        return
    items = list(dispatches)
    if len(items) <= engine_setting("INLINE_PUBLISH_MAX"):
        transaction.on_commit(lambda: publish_now(items))
        return

    def fan_out() -> None:
        # One fan-out task per chunk, so that several workers publish (and start running) in parallel.
        chunk = FAN_OUT_CHUNK
        try:
            with current_app.producer_or_acquire() as producer:
                for start in range(0, len(items), chunk):
                    ids = [item.job_id for item in items[start : start + chunk]]
                    current_app.send_task(PUBLISH_JOBS_TASK, args=[ids], queue="celery", producer=producer)
        except Exception:
            logger.warning("engine.publish_failed fan_out jobs=%s", len(items), exc_info=True)

    transaction.on_commit(fan_out)


def publish_queued(job_ids: Iterable[int]) -> int:
    """Publish the given jobs that are still queued (the fan-out task's body)."""
    ids = list(job_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, key, queue FROM orchestration_job WHERE id = ANY(%s) AND state = 'queued' ORDER BY id",
            [ids],
        )
        rows = cursor.fetchall()
    return publish_now([Dispatch(job_id=row[0], key=row[1], queue=row[2]) for row in rows])


def _queue_is_empty(queue: str) -> bool:
    return int(get_redis().llen(queue)) == 0


def relay_queued_jobs(*, limit: int = 5000) -> int:
    """Re-publish queued jobs whose message may be gone, and due delayed retries. Returns jobs sent.

    Two cases: a retry whose backoff has passed and was never sent (`published_at` is null); or a job
    that was sent long ago (`RELAY_STALE_SECONDS`) but is still queued while its broker queue is empty,
    which means the message was lost (broker down at commit, process killed before publishing, Redis
    restarted without its data). A duplicate message is harmless: the claim lets only one run.
    """
    stale = engine_setting("RELAY_STALE_SECONDS")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id, key, queue, published_at IS NULL FROM orchestration_job
            WHERE state = 'queued' AND available_at <= now()
              AND (published_at IS NULL OR published_at < now() - make_interval(secs => %s))
            ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
            """,
            [stale, limit],
        )
        rows = cursor.fetchall()
        empty: dict[str, bool] = {}
        chosen: list[Dispatch] = []
        for job_id, key, queue, never_sent in rows:
            if not never_sent:
                if queue not in empty:
                    empty[queue] = _queue_is_empty(queue)
                if not empty[queue]:
                    continue  # a backlog: the message is probably waiting in it; look again later
            chosen.append(Dispatch(job_id=job_id, key=key, queue=queue))
        if chosen:
            cursor.execute(
                "UPDATE orchestration_job SET published_at = now() WHERE id = ANY(%s)",
                [[item.job_id for item in chosen]],
            )
            logger.info("engine.relay republish=%s", len(chosen))
            publish_on_commit(chosen)
    return len(chosen)
