"""Cancelling a stage: what has not started never will, what runs is told to stop.

`stage_cancel` (inside the domain's transaction, like every stage change):
- marks the stage cancelled once (`cancel_requested_at`); a second cancel is a no-op;
- ends its queued, pending and quarantined jobs `cancelled` at once, counted in the round's fan-in;
- running jobs learn it from their lease: `job_should_stop` answers true, the lease keeper notices at
  its next renewal, and a job that ends without succeeding ends `cancelled`; one that has not ended
  after `CANCEL_GRACE_SECONDS` is abandoned by the sweeper (ended `cancelled`; the worker's late end,
  and every fenced write it tries, are refused on the claim token);
- when nothing is left running, the round is complete and the domain's finaliser runs in the same
  transaction; it sees `stage.cancel_requested_at` and records its own `cancelled` status and event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import connection, transaction

from . import metrics
from .conf import engine_setting
from .ending import Outcome, job_end
from .errors import CANCELLED, JobError
from .fanin import finalise_if_complete
from .models import Job, JobState, Stage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CancelResult:
    cancelled_now: bool  # false: the stage was cancelled or finalised already (a duplicate cancel)
    jobs_cancelled: int  # queued and pending jobs ended at once
    jobs_stopping: int  # running jobs told to stop
    finalised: bool  # the round completed in this transaction


def stage_cancel(*, stage: Stage) -> CancelResult:
    assert transaction.get_connection().in_atomic_block, "cancel inside the domain's transaction"
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE orchestration_stage SET cancel_requested_at = now()
            WHERE id = %s AND cancel_requested_at IS NULL AND finalised_at IS NULL
            RETURNING round
            """,
            [stage.pk],
        )
        row = cursor.fetchone()
        if row is None:
            return CancelResult(cancelled_now=False, jobs_cancelled=0, jobs_stopping=0, finalised=False)
        (round_,) = row
        cursor.execute(
            """
            WITH ended AS (
                UPDATE orchestration_job
                SET state = 'cancelled', finished_at = now(), lease_owner = '', lease_expires_at = NULL,
                    error_code = %s, error_message = 'cancelled before it ran', error_retryable = false
                WHERE stage_id = %s AND round = %s AND state IN ('queued', 'pending', 'quarantined')
                RETURNING id
            )
            UPDATE orchestration_stage AS stage SET cancelled = stage.cancelled + (SELECT count(*) FROM ended)
            WHERE stage.id = %s
            RETURNING stage.cancelled,
                      (SELECT count(*) FROM orchestration_job
                       WHERE stage_id = %s AND round = %s AND state = 'running')
            """,
            [CANCELLED, stage.pk, round_, stage.pk, stage.pk, round_],
        )
        cancelled, running = cursor.fetchone()
    stage.refresh_from_db()
    finalised = finalise_if_complete(stage_id=stage.pk, round=round_)
    logger.info(
        "engine.stage_cancelled stage=%s kind=%s ref=%s round=%s cancelled=%s running=%s finalised=%s",
        stage.pk,
        stage.kind,
        stage.ref,
        round_,
        cancelled,
        running,
        finalised,
    )
    metrics.incr("relay_stages_cancelled_total", kind=stage.kind)
    return CancelResult(cancelled_now=True, jobs_cancelled=cancelled, jobs_stopping=running, finalised=finalised)


def abandon_overdue_cancelled_jobs(*, limit: int = 500) -> int:
    """End running jobs of stages cancelled more than `CANCEL_GRACE_SECONDS` ago (their worker did
    not stop in time). Each in its own transaction. Returns how many were ended."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT j.id, j.stage_id, j.round FROM orchestration_job AS j
            JOIN orchestration_stage AS s ON s.id = j.stage_id
            WHERE j.state = 'running'
              AND s.cancel_requested_at < now() - make_interval(secs => %s)
            ORDER BY j.id LIMIT %s
            """,
            [engine_setting("CANCEL_GRACE_SECONDS"), limit],
        )
        overdue = cursor.fetchall()
    ended = 0
    for job_id, _, _ in overdue:
        job = Job.objects.filter(pk=job_id, state=JobState.RUNNING).first()
        if job is None:
            continue
        error = JobError.fatal("abandoned: it did not stop within the cancel grace period", code=CANCELLED)
        try:
            # The usual end (its domain's `on_end` sees it `cancelled`), taken over from the holder.
            state = job_end(job=job, outcome=Outcome(error=error), token=job.lease_owner)
        except Exception:
            logger.exception("engine.cancel_abandon_failed job=%s", job_id)
            continue
        ended += int(state == JobState.CANCELLED)
    return ended
