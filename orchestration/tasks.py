"""Thin Celery entry points: ids in, one service call.

Data lane: `drain` (one per doorbell, on the queue it drains). Control lane (queue `control`, its own
worker process): the reconciler, the sweeper, the progress flush and retention, which must never wait behind
data jobs.
"""

from celery import shared_task

from . import cancel, dispatch, progress, recovery, retention, runner
from .redis_client import get_redis

CONTROL_QUEUE = "control"


@shared_task(name=dispatch.DRAIN_TASK, ignore_result=True)
def drain(queue: str) -> list[str]:
    """Run due jobs of `queue` until none is claimable; returns the job keys it ran (Flower shows them)."""
    return runner.queue_drain(queue)


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
