"""The life of a job on a worker: claim (compare-and-set), run outside any transaction, end."""

from __future__ import annotations

import json
import logging
import random
import uuid
from dataclasses import dataclass
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection, transaction

from . import leases, metrics
from .conf import engine_setting
from .db import retry_on_conflict
from .dispatch import Dispatch, publish_on_commit
from .errors import JobError
from .fanin import end_job_and_count, finalise_if_complete
from .models import Job, JobState
from .registry import job_kind

logger = logging.getLogger(__name__)

_JOB_FIELDS = list(Job._meta.concrete_fields)
_JOB_COLUMNS = [field.column for field in _JOB_FIELDS]


@dataclass(frozen=True)
class Outcome:
    result: Any = None
    error: JobError | None = None


def job_claim(job_id: int) -> Job | None:
    """`queued → running` if and only if the job is still queued; anything else walks away."""
    token = uuid.uuid4().hex
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE orchestration_job
            SET state = 'running', attempts = attempts + 1, lease_owner = %s, worker = %s,
                lease_expires_at = now() + make_interval(secs => %s), started_at = now(), finished_at = NULL
            WHERE id = %s AND state = 'queued' AND available_at <= now() + interval '1 second'
            RETURNING {", ".join(_JOB_COLUMNS)}
            """,
            [token, leases.worker_name(), engine_setting("LEASE_SECONDS"), job_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    values = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(_JOB_FIELDS, row, strict=True)
    ]
    return Job.from_db(connection.alias, [field.attname for field in _JOB_FIELDS], values)


def job_execute(job_id: int) -> str:
    """Run one job end to end. Returns what happened (for logs and tests)."""
    job = job_claim(job_id)
    if job is None:
        logger.info("engine.job_skip job=%s reason=not_queued", job_id)
        return "skipped"
    leases.hold(job.lease_owner)
    try:
        outcome = Outcome(result=job_kind(job.kind).run(job))
    except JobError as exc:
        outcome = Outcome(error=exc)
    except SoftTimeLimitExceeded:
        outcome = Outcome(error=JobError("the job ran past its time limit", code="time_limit"))
    except Exception as exc:  # a bug or an unexpected failure: retried like a transient error
        logger.exception("engine.job_crash job=%s key=%s attempt=%s", job.pk, job.key, job.attempts)
        outcome = Outcome(error=JobError(f"{type(exc).__name__}: {exc}", code="unhandled_exception"))
    finally:
        leases.release(job.lease_owner)
    state = job_end(job=job, outcome=outcome, token=job.lease_owner)
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


def backoff_seconds(attempt: int) -> float:
    base = engine_setting("BACKOFF_BASE_SECONDS")
    delay = min(base * 2 ** max(attempt - 1, 0), engine_setting("BACKOFF_MAX_SECONDS"))
    return delay * random.uniform(0.8, 1.2)  # jitter spreads a burst of retries


@retry_on_conflict(attempts=3)
def job_end(*, job: Job, outcome: Outcome, token: str) -> str:
    """End (or re-queue for an automatic retry) a running job held by `token`. Returns the new state,
    or "stale" when the job was no longer ours (the sweeper took it back, a duplicate ended it)."""
    with transaction.atomic():
        return _job_end(job=job, outcome=outcome, token=token)


def _job_end(*, job: Job, outcome: Outcome, token: str) -> str:
    error = outcome.error
    if error is not None and error.retryable and job.attempts < job.max_attempts:
        delay = backoff_seconds(job.attempts)
        countdown = delay if delay <= engine_setting("MAX_COUNTDOWN_SECONDS") else None
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE orchestration_job
                SET state = 'queued', lease_owner = '', lease_expires_at = NULL,
                    available_at = now() + make_interval(secs => %s),
                    published_at = CASE WHEN %s THEN now() ELSE NULL END,
                    error_code = %s, error_message = %s, error_retryable = true
                WHERE id = %s AND state = 'running' AND lease_owner = %s
                """,
                [delay, countdown is not None, error.code, error.message[:4000], job.pk, token],
            )
            if cursor.rowcount != 1:
                return "stale"
        if countdown is not None:
            publish_on_commit([Dispatch(job_id=job.pk, key=job.key, queue=job.queue, countdown=countdown)])
        metrics.incr("relay_job_retries_total", kind=job.kind)
        return JobState.QUEUED

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
    job.state = state
    job.result = outcome.result
    job.error_code = error.code if error else ""
    job.error_message = error.message if error else ""
    job.error_retryable = error.retryable if error else None
    kind = job_kind(job.kind)
    if kind.on_end is not None:
        kind.on_end(job)  # sees the job ended; the finaliser below sees what on_end wrote
    if record.round_complete:
        finalise_if_complete(stage_id=job.stage_id, round=job.round)
    metrics.incr("relay_jobs_ended_total", kind=job.kind, state=state)
    return state


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)
