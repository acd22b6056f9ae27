"""The sweeper: jobs whose lease expired (their worker died) go back to their domain's decision.

Each lost job is recovered in its own transaction, so one job whose domain hook raises cannot roll
back the others or block the sweep: its failure is counted on the job, and past
`RECOVERY_MAX_FAILURES` sweeps it is quarantined (`error`, `recovery_failed`) and its stage fans in.
Every path counts the lost attempt: a job that kills its worker every time ends `failed`
(`worker_lost`) after its attempts instead of looping. Times are PostgreSQL's clock, as in claims.
"""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.db.models.functions import Now

from . import metrics
from .conf import engine_setting
from .dispatch import ring_on_commit
from .ending import Outcome, job_end
from .errors import CANCELLED, RECOVERY_FAILED, WORKER_LOST, JobError
from .fanin import end_job_and_count, finalise_if_complete
from .models import Job, JobState
from .registry import LostAction, stage_kind

logger = logging.getLogger(__name__)


@metrics.failures_counted("relay_sweep_failures_total")
def recover_expired_jobs(*, limit: int = 500) -> int:
    """Hand back running jobs whose lease expired. Safe to run from any number of processes at once:
    rows are taken with SKIP LOCKED and every change is guarded on the lease token. Returns how many
    jobs were recovered (quarantined ones included)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id FROM orchestration_job
            WHERE state = 'running' AND lease_expires_at < now()
            ORDER BY lease_expires_at, id LIMIT %s
            """,
            [limit],
        )
        candidates = [row[0] for row in cursor.fetchall()]
    recovered = 0
    for job_id in candidates:
        try:
            recovered += _recover_one(job_id)
        except Exception:
            logger.exception("engine.recovery_failed job=%s", job_id)
            metrics.incr("relay_recovery_failures_total")
            recovered += _count_recovery_failure(job_id)
    metrics.incr("relay_sweep_runs_total")
    return recovered


def _recover_one(job_id: int) -> int:
    with transaction.atomic():
        job = (
            Job.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("stage")
            .filter(pk=job_id, state=JobState.RUNNING, lease_expires_at__lt=Now())
            .first()
        )
        if job is None:
            return 0  # renewed, ended, or another sweeper has it
        action = stage_kind(job.stage.kind).on_job_lost(job)
        logger.warning(
            "engine.job_lost job=%s key=%s worker=%s attempt=%s max_attempts=%s action=%s",
            job.pk,
            job.key,
            job.worker,
            job.attempts,
            job.max_attempts,
            action,
        )
        metrics.incr("relay_jobs_lost_total", kind=job.kind)
        allowed = job.max_attempts + (1 if action is LostAction.RERUN else 0)
        if job.stage.cancel_requested_at is not None:
            # Its stage was cancelled: it is not run again; the usual end records it `cancelled`.
            error = JobError.fatal(f"worker {job.worker} was lost after the cancel", code=CANCELLED)
            job_end(job=job, outcome=Outcome(error=error), token=job.lease_owner)
            return 1
        if job.attempts >= allowed:
            error = JobError(f"worker {job.worker} was lost on attempt {job.attempts}", code=WORKER_LOST)
            job.max_attempts = allowed
            job_end(job=job, outcome=Outcome(error=error), token=job.lease_owner)
            return 1
        state = JobState.PENDING if action is LostAction.PAUSE else JobState.QUEUED
        with connection.cursor() as cursor:
            # The fair key stays: a job taken back from a dead worker keeps its place in the order.
            cursor.execute(
                """
                UPDATE orchestration_job
                SET state = %s, available_at = now(), lease_owner = '', lease_expires_at = NULL,
                    error_code = %s, error_message = %s, error_retryable = true
                WHERE id = %s AND state = 'running' AND lease_owner = %s
                """,
                [state, WORKER_LOST, f"worker {job.worker} stopped renewing its lease", job.pk, job.lease_owner],
            )
            if cursor.rowcount and state == JobState.QUEUED:
                ring_on_commit([job.queue])
        return 1


def _count_recovery_failure(job_id: int) -> int:
    """The domain's recovery of this job raised: count it; past the limit, quarantine the job."""
    limit = int(engine_setting("RECOVERY_MAX_FAILURES"))
    with transaction.atomic():
        failures = (
            Job.objects.filter(pk=job_id, state=JobState.RUNNING)
            .select_for_update()
            .values_list("recovery_failures", flat=True)
            .first()
        )
        if failures is None:
            return 0
        failures += 1
        Job.objects.filter(pk=job_id).update(recovery_failures=failures)
        if failures < limit:
            return 0
    return _quarantine(job_id, failures=failures)


def _quarantine(job_id: int, *, failures: int) -> int:
    """End the job `error` (`recovery_failed`) and fan it in. The domain's `on_end` and finaliser are
    tried in a savepoint; if they raise as well, the job is still ended and counted, and the stage is
    finalised without them (logged loudly: an operator has to look at that domain object)."""
    message = f"the sweeper could not recover this job ({failures} tries); it was quarantined"
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id, state=JobState.RUNNING).first()
        if job is None:
            return 0
        try:
            with transaction.atomic():
                state = job_end(
                    job=job, outcome=Outcome(error=JobError.fatal(message, code=RECOVERY_FAILED)), token=job.lease_owner
                )
        except Exception:
            logger.exception("engine.quarantine_hooks_failed job=%s key=%s", job.pk, job.key)
            record = end_job_and_count(
                job_id=job.pk,
                token=None,
                state=JobState.ERROR,
                result=None,
                error_code=RECOVERY_FAILED,
                error_message=message,
                error_retryable=False,
            )
            if record.round_complete:
                _finalise_without_domain_if_it_raises(stage_id=job.stage_id, round=job.round)
            state = record.state
    logger.error("engine.job_quarantined job=%s key=%s kind=%s failures=%s", job.pk, job.key, job.kind, failures)
    metrics.incr("relay_jobs_quarantined_total", kind=job.kind)
    return 1 if state else 0


def _finalise_without_domain_if_it_raises(*, stage_id: int, round: int) -> None:
    try:
        with transaction.atomic():
            finalise_if_complete(stage_id=stage_id, round=round)
    except Exception:
        logger.exception("engine.finalise_failed stage=%s round=%s: finalised without the domain", stage_id, round)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE orchestration_stage SET finalised_at = now(), status = 'finalised' "
                "WHERE id = %s AND round = %s AND finalised_at IS NULL",
                [stage_id, round],
            )
