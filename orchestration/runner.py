"""The life of a job on a worker: drain a queue, run each claimed job outside any transaction, end it.

The lease is held (renewed) from the claim until the job's end has committed, so the sweeper cannot
take a job back while its end is on its way; a database error at the end is retried, never dropped.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

from . import claims, dispatch, job_metrics, leases, metrics
from .conf import engine_setting
from .db import retry_on_conflict
from .errors import JobError
from .fanin import end_job_and_count, finalise_if_complete
from .models import Job, JobState
from .registry import job_kind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    result: Any = None
    error: JobError | None = None


def queue_drain(queue: str) -> list[str]:
    """Claim and run due jobs of `queue` until none is claimable or the time slice is over (then ring
    once more, so that another drain carries on and this process can serve its other queues).
    Returns the keys of the jobs it ran."""
    batch = int(engine_setting("CLAIM_BATCH"))
    deadline = time.monotonic() + engine_setting("DRAIN_SLICE_SECONDS")
    ran: list[str] = []
    while True:
        dispatch.drain_looked(queue)
        try:
            jobs = claims.jobs_claim(queue=queue, limit=batch)
        except DatabaseError:
            # Nothing was claimed (the claim is one transaction); the reconciler rings again.
            logger.warning("engine.claim_failed queue=%s", queue, exc_info=True)
            metrics.incr("relay_claim_failures_total", queue=queue)
            discard_broken_connection(force=True)
            return ran
        if not jobs:
            return ran
        for job in jobs:
            leases.hold(job.lease_owner)  # every claimed job, also those that wait their turn
        for job in jobs:
            job_run(job)
            ran.append(job.key)
        if time.monotonic() > deadline:
            dispatch.ring(queue, wanted=1)
            return ran


def job_claim(job_id: int) -> Job | None:
    """Claim one named job (an operator's "run now", the engine's tests); `queued` only."""
    return claims.job_claim_named(job_id)


def job_execute(job_id: int) -> str:
    """Claim one named job and run it end to end. Returns what happened."""
    job = job_claim(job_id)
    if job is None:
        logger.info("engine.job_skip job=%s reason=not_queued", job_id)
        return "skipped"
    leases.hold(job.lease_owner)
    return job_run(job)


def job_run(job: Job) -> str:
    """Run a claimed job (its lease already held) and end it; the lease is released after the end."""
    began = time.monotonic()
    try:
        outcome = _call_handler(job)
        state = job_end_durably(job=job, outcome=outcome)
    finally:
        leases.release(job.lease_owner)
    job_metrics.job_ran(job, state=state, seconds=time.monotonic() - began)
    if outcome.error is not None:
        logger.info(
            "engine.job_end job=%s key=%s kind=%s attempt=%s state=%s code=%s message=%s",
            job.pk,
            job.key,
            job.kind,
            job.attempts,
            state,
            outcome.error.code,
            outcome.error.message,
        )
    return state


def _call_handler(job: Job) -> Outcome:
    try:
        return Outcome(result=job_kind(job.kind).run(job))
    except JobError as exc:
        return Outcome(error=exc)
    except SoftTimeLimitExceeded:
        return Outcome(error=JobError("the job ran past its time limit", code="time_limit"))
    except Exception as exc:  # a bug or an unexpected failure: retried like a transient error
        logger.exception("engine.job_crash job=%s key=%s attempt=%s", job.pk, job.key, job.attempts)
        return Outcome(error=JobError(f"{type(exc).__name__}: {exc}", code="unhandled_exception"))


def job_end_durably(*, job: Job, outcome: Outcome) -> str:
    """`job_end`, tried again while the database is unreachable (a restart, a failover, a killed
    connection) for up to `END_RETRY_SECONDS`; the lease keeper renews the lease meanwhile. If the
    database stays away the job is left `running`: its lease runs out and the sweeper recovers it."""
    deadline = time.monotonic() + engine_setting("END_RETRY_SECONDS")
    pause = 0.2
    while True:
        try:
            return job_end(job=job, outcome=outcome, token=job.lease_owner)
        except (OperationalError, InterfaceError):
            discard_broken_connection(force=True)
            if time.monotonic() > deadline:
                logger.exception("engine.job_end_failed job=%s key=%s", job.pk, job.key)
                return "unsettled"
            logger.warning("engine.job_end_retry job=%s key=%s", job.pk, job.key, exc_info=True)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def discard_broken_connection(*, force: bool = False) -> None:
    """Drop this thread's database connection if it is dead (after a PostgreSQL restart or a
    `pg_terminate_backend`), so that the next query opens a new one instead of failing forever."""
    if connection.connection is None or connection.in_atomic_block:
        return
    if force or not connection.is_usable():
        try:
            connection.close()
        except Exception:
            connection.connection = None


def backoff_seconds(attempt: int) -> float:
    base = engine_setting("BACKOFF_BASE_SECONDS")
    delay = min(base * 2 ** max(attempt - 1, 0), engine_setting("BACKOFF_MAX_SECONDS"))
    return delay * random.uniform(0.8, 1.2)  # jitter spreads a burst of retries


def retry_delay(job: Job, error: JobError) -> float | None:
    """Seconds until the automatic retry, or None when the job must not be retried (its attempts,
    or its kind's total deadline, are used up). An upstream's `Retry-After` is honoured."""
    if not error.retryable or job.attempts >= job.max_attempts:
        return None
    policy = job_kind(job.kind).retry
    delay = backoff_seconds(job.attempts)
    if policy.max_delay_seconds is not None:
        delay = min(delay, policy.max_delay_seconds)
    if error.retry_after is not None:
        delay = max(delay, error.retry_after)
    if policy.deadline_seconds is not None:
        age = (time.time() - job.created_at.timestamp()) if job.created_at else 0.0
        if age + delay > policy.deadline_seconds:
            return None
    return delay


@retry_on_conflict(attempts=3)
def job_end(*, job: Job, outcome: Outcome, token: str) -> str:
    """End (or re-queue for an automatic retry) a running job held by `token`. Returns the new state,
    or "stale" when the job was no longer ours (the sweeper took it back, a duplicate ended it)."""
    with transaction.atomic():
        return _job_end(job=job, outcome=outcome, token=token)


def _job_end(*, job: Job, outcome: Outcome, token: str) -> str:
    error = outcome.error
    delay = retry_delay(job, error) if error is not None else None
    if error is not None and delay is not None:
        requeued = _requeue_for_retry(job=job, error=error, token=token, delay=delay)
        if requeued is not None:
            return requeued
        # Not re-queued: the stage was cancelled (the end below records it) or the job is not ours.

    if error is None:
        state = JobState.SUCCEEDED
    elif error.retryable:
        state = JobState.FAILED
    else:
        state = JobState.ERROR
    record = end_job_and_count(
        job_id=job.pk,
        token=token,
        state=state,
        result=_json(outcome.result),
        error_code=error.code if error else "",
        error_message=error.message[:4000] if error else "",
        error_retryable=error.retryable if error else None,
    )
    if not record.ended:
        return "stale"
    job.state = record.state
    job.result = outcome.result
    job.error_code = error.code if error else ""
    job.error_message = error.message if error else ""
    job.error_retryable = error.retryable if error else None
    kind = job_kind(job.kind)
    if kind.on_end is not None:
        kind.on_end(job)  # sees the job ended; the finaliser below sees what on_end wrote
    if record.round_complete:
        finalise_if_complete(stage_id=job.stage_id, round=job.round)
    metrics.incr("relay_jobs_ended_total", kind=job.kind, state=record.state)
    return record.state


def _requeue_for_retry(*, job: Job, error: JobError, token: str, delay: float) -> str | None:
    """Back to `queued` with `available_at` in the future: the delay lives in PostgreSQL (no broker
    countdown), and the job keeps its fair key, so its place in the fair order."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE orchestration_job AS j
            SET state = 'queued', lease_owner = '', lease_expires_at = NULL,
                available_at = now() + make_interval(secs => %s),
                error_code = %s, error_message = %s, error_retryable = true
            FROM orchestration_stage AS stage
            WHERE j.id = %s AND j.state = 'running' AND j.lease_owner = %s
              AND stage.id = j.stage_id AND stage.cancel_requested_at IS NULL
            """,
            [delay, error.code, error.message[:4000], job.pk, token],
        )
        if cursor.rowcount != 1:
            return None
    metrics.incr("relay_job_retries_total", kind=job.kind)
    return JobState.QUEUED


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)
