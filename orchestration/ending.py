"""Ending jobs: the outcomes of several jobs a worker ran are recorded in one transaction (a flush).

One flush, in this order (the lock order every ending transaction keeps):
1. jobs that get an automatic retry go back to `queued` with `available_at` in the future;
2. the others end in one statement, each guarded on its claim token (a job taken back ends "stale");
3. the domain records its outcomes (`on_end_many` once per kind, or `on_end` per job), still inside
   the transaction, so job state and domain state commit together;
4. the stage counters are updated once per stage and round, as the last write: the stage row (the one
   row all jobs of a stage share) is locked only from there to the commit, and the transaction that
   completes a round sees it complete, and calls the finaliser, exactly once.

A flush that raises for any reason other than the database going away is tried again job by job, so a
domain bug in one job's `on_end` costs that job alone (it stays `running`; its lease runs out and the
sweeper recovers it) and never the jobs flushed with it.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import InterfaceError, OperationalError, connection, transaction

from . import metrics
from .conf import engine_setting
from .db import retry_on_conflict
from .errors import JobError
from .fanin import EndRow, finalise_if_complete, jobs_mark_ended, rounds_count
from .models import Job, JobState
from .registry import job_kind

logger = logging.getLogger(__name__)

STALE = "stale"  # the job was no longer ours to end (taken back by the sweeper, ended by a duplicate)
UNSETTLED = "unsettled"  # the end could not be recorded; the lease runs out and the sweeper recovers it


@dataclass(frozen=True)
class Outcome:
    result: Any = None
    error: JobError | None = None


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


def job_end(*, job: Job, outcome: Outcome, token: str) -> str:
    """End (or re-queue for an automatic retry) one running job held by `token`. Returns the new
    state, or "stale" when the job was no longer ours."""
    return _flush([(job, outcome, token)])[0]


def jobs_end(entries: list[tuple[Job, Outcome]]) -> list[str]:
    """End jobs this process holds (each by its own claim token), in one transaction when it can.
    Returns each job's new state in the order given. Database outages are the caller's to retry."""
    keyed = [(job, outcome, job.lease_owner) for job, outcome in entries]
    if len(keyed) == 1:
        return _flush(keyed)
    try:
        return _flush(keyed)
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        logger.exception("engine.flush_failed jobs=%s: ending them one by one", len(keyed))
    return [_end_alone(entry) for entry in keyed]


def _end_alone(entry: tuple[Job, Outcome, str]) -> str:
    try:
        return _flush([entry])[0]
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        job = entry[0]
        logger.exception("engine.job_end_crash job=%s key=%s: left to the sweeper", job.pk, job.key)
        metrics.incr("relay_job_end_failures_total", kind=job.kind)
        return UNSETTLED


@retry_on_conflict(attempts=3)
def _flush(entries: list[tuple[Job, Outcome, str]]) -> list[str]:
    with transaction.atomic():
        return _record(entries)


def _record(entries: list[tuple[Job, Outcome, str]]) -> list[str]:
    states: dict[int, str] = {}
    to_end: list[tuple[Job, Outcome, str]] = []
    for job, outcome, token in entries:
        error = outcome.error
        delay = retry_delay(job, error) if error is not None else None
        retried = error is not None and delay is not None and _requeue_for_retry(job, error, token, delay)
        if retried:
            states[job.pk] = JobState.QUEUED
        else:  # no retry, or not re-queued (the stage was cancelled: the end records it; or not ours)
            to_end.append((job, outcome, token))

    ended = jobs_mark_ended([_end_row(job, outcome, token) for job, outcome, token in to_end])
    by_kind: dict[str, list[Job]] = defaultdict(list)
    for job, outcome, _ in to_end:
        record = ended.get(job.pk)
        if record is None:
            states[job.pk] = STALE
            continue
        _apply(job, outcome, state=record.state)
        states[job.pk] = record.state
        by_kind[job.kind].append(job)

    for kind_name, jobs in by_kind.items():
        kind = job_kind(kind_name)
        if kind.on_end_many is not None:
            kind.on_end_many(jobs)
        elif kind.on_end is not None:
            for job in jobs:
                kind.on_end(job)  # sees the job ended; the finaliser below sees what on_end wrote

    for stage_id, round_ in rounds_count(list(ended.values())):
        finalise_if_complete(stage_id=stage_id, round=round_)

    ended_kinds = Counter((job.kind, job.state) for jobs in by_kind.values() for job in jobs)
    for (kind_name, state), count in ended_kinds.items():
        metrics.incr("relay_jobs_ended_total", count, kind=kind_name, state=state)
    return [states[job.pk] for job, _, _ in entries]


def _end_row(job: Job, outcome: Outcome, token: str) -> EndRow:
    error = outcome.error
    if error is None:
        state = JobState.SUCCEEDED
    elif error.retryable:
        state = JobState.FAILED
    else:
        state = JobState.ERROR
    return EndRow(
        job_id=job.pk,
        token=token,
        state=state,
        result=None if outcome.result is None else json.dumps(outcome.result),
        error_code=error.code if error else "",
        error_message=error.message[:4000] if error else "",
        error_retryable=error.retryable if error else None,
    )


def _apply(job: Job, outcome: Outcome, *, state: str) -> None:
    error = outcome.error
    job.state = state
    job.result = outcome.result
    job.error_code = error.code if error else ""
    job.error_message = error.message if error else ""
    job.error_retryable = error.retryable if error else None


def _requeue_for_retry(job: Job, error: JobError, token: str, delay: float) -> bool:
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
            return False
    metrics.incr("relay_job_retries_total", kind=job.kind)
    return True
