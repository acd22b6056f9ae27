"""Thin Celery entry points: ids in, one service call."""

from celery import shared_task

from . import dispatch, recovery, runner
from .redis_client import get_redis


@shared_task(name=dispatch.RUN_JOB_TASK, ignore_result=True)
def run_job(job_id: int) -> str:
    return runner.job_execute(job_id)


@shared_task(name="orchestration.count", ignore_result=True)
def count(key: str) -> None:
    """A bare task that only counts itself: the raw-Celery baseline of `bench/engine.py`."""
    get_redis().incr(key)


@shared_task(name=dispatch.PUBLISH_JOBS_TASK, ignore_result=True)
def publish_jobs(job_ids: list[int]) -> int:
    return dispatch.publish_queued(job_ids)


@shared_task(name="orchestration.relay_queued_jobs")
def relay_queued_jobs() -> int:
    return dispatch.relay_queued_jobs()


@shared_task(name="orchestration.recover_expired_jobs")
def recover_expired_jobs() -> int:
    return recovery.recover_expired_jobs()
