"""Thin Celery entry points: ids in, one service call.

Data lane: `drain` (one per doorbell, on the queue it drains). Control lane (queue `control`, its own
worker process): the reconciler, the sweeper, the progress flush and retention, which must never wait behind
data jobs.
"""

from celery import shared_task

from . import cancel, dispatch, progress, recovery, retention, runner
from .redis_client import get_redis

CONTROL_QUEUE = "control"


# A drain's answer is what Flower shows of it (the task-succeeded event's `result`: the bell's only
# argument is the queue, the jobs are claimed from PostgreSQL). The first keys are enough to find the jobs
# in the admin; the whole list of a busy 10 s slice would be thousands of keys in every event.
DRAIN_KEYS_SHOWN = 20


@shared_task(name=dispatch.DRAIN_TASK, ignore_result=True)
def drain(queue: str) -> dict[str, object]:
    """Run due jobs of `queue` until none is claimable; returns the queue, how many jobs ran and the
    first of their keys (Flower shows them)."""
    return drain_summary(queue, runner.queue_drain(queue))


def drain_summary(queue: str, keys: list[str]) -> dict[str, object]:
    summary: dict[str, object] = {"queue": queue, "ran": len(keys), "keys": keys[:DRAIN_KEYS_SHOWN]}
    if len(keys) > DRAIN_KEYS_SHOWN:
        summary["more"] = len(keys) - DRAIN_KEYS_SHOWN
    return summary


@shared_task(name="orchestration.count", ignore_result=True)
def count(key: str) -> None:
    """A bare task that only counts itself: the raw-Celery baseline of `bench/engine.py`."""
    get_redis().incr(key)


@shared_task(name="orchestration.reconcile", ignore_result=True)
def reconcile() -> dict[str, int]:
    return dispatch.reconcile()


@shared_task(name="orchestration.recover_expired_jobs", ignore_result=True)
def recover_expired_jobs() -> int:
    return recovery.recover_expired_jobs() + cancel.abandon_overdue_cancelled_jobs()


@shared_task(name="orchestration.flush_progress", ignore_result=True)
def flush_progress() -> int:
    return progress.flush_due()


@shared_task(name="orchestration.prune", ignore_result=True)
def prune() -> dict[str, int]:
    """Retention: delete finished history older than RETENTION_DAYS, a few seconds' worth per tick."""
    return retention.prune()
