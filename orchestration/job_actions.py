"""An operator's hands on single jobs (the admin's "Re-queue" and "Quarantine" actions).

- **Quarantine** sets a `queued`, `pending` or `failed` job aside as `quarantined`: no claim takes it
  (claims select `queued` only), the reconciler does not ring for it (it counts due `queued` jobs), the
  sweeper does not see it (it takes `running` jobs with an expired lease), retention keeps it (not
  finished, and its stage is not finalised). Its round waits for it: the job still counts in the round's
  `total` and not among its ends, so the stage stays `running` (a campaign phase, a run or a scan shows
  as still running) until an operator re-queues it, or the stage is cancelled (it ends `cancelled`
  then, like a queued job). A `failed` job's end is taken back out of the round's counters for that.
- **Re-queue** puts a `quarantined` or `failed` job back to `queued` (`pending` when its stage is
  paused: the resume queues it) and rings its queue's bell. Only inside its stage's open round:
  once a round was finalised, the domain has settled it and only the domain's own retry (a phase
  retry, Continue, a scan service retry) opens a new round. Re-running a job that ended `failed` calls
  its `on_end` a second time, so only stage kinds that say `rerun_ended_jobs` allow it.

Every change happens with the job row and then the stage row locked (the order every ending transaction
keeps) and is a guarded update on the state that was checked; a refusal changes nothing.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, connection, transaction

from . import metrics
from .dispatch import ring_on_commit
from .errors import JobActionRefused
from .models import Job, JobState, Stage, StageStatus
from .registry import job_kind, stage_kind

logger = logging.getLogger(__name__)

QUARANTINABLE = (JobState.QUEUED, JobState.PENDING, JobState.FAILED)
REQUEUEABLE = (JobState.QUARANTINED, JobState.FAILED)


def job_quarantine(*, job_id: int, actor: str = "") -> Job:
    """Set the job aside until an operator re-queues it. Raises `JobActionRefused` (nothing changed)
    when it is running, finished otherwise, or its round is over."""
    with transaction.atomic():
        job, stage = _locked(job_id)
        if job.state not in QUARANTINABLE:
            raise JobActionRefused(
                f"job {job.key} is {job.state}: only queued, pending or failed jobs can be quarantined"
                + (" (cancel its stage, or wait for its end)" if job.state == JobState.RUNNING else ""),
                code="job_not_quarantinable",
            )
        _require_open_round(job, stage)
        if job.state == JobState.FAILED:
            _require_rerun_allowed(stage)
            _uncount_failed(job)
        _move(job, to=JobState.QUARANTINED)
    metrics.incr("relay_jobs_quarantined_total", kind=job.kind)
    logger.warning("engine.job_quarantined job=%s key=%s kind=%s by=%s", job.pk, job.key, job.kind, actor)
    return job


def job_requeue(*, job_id: int, actor: str = "") -> Job:
    """Put a quarantined or failed job back in its queue (in its old place: the fair key stays, as for
    a job recovered from a dead worker) and ring the bell. Raises `JobActionRefused` (nothing changed)
    when the job is in another state, its round is over, its stage was cancelled, or another job with
    its key is live.

    Attempts: the count is never reset (it is the number of times the job was claimed, lost workers
    included). A job whose attempts are used up (a `failed` one) gets a fresh allowance on top of them:
    `max_attempts` becomes `attempts` plus its kind's (or stage's) limit, so automatic retries work as
    for a new job; a job quarantined before it used them keeps its limit."""
    with transaction.atomic():
        job, stage = _locked(job_id)
        if job.state not in REQUEUEABLE:
            raise JobActionRefused(
                f"job {job.key} is {job.state}: only quarantined or failed jobs can be re-queued",
                code="job_not_requeueable",
            )
        _require_open_round(job, stage)
        if job.state == JobState.FAILED:
            _require_rerun_allowed(stage)
            _uncount_failed(job)
        if job.attempts >= job.max_attempts:
            job.max_attempts = job.attempts + (job_kind(job.kind).retry.max_attempts or stage.max_attempts)
        target = JobState.PENDING if stage.status == StageStatus.PAUSED else JobState.QUEUED
        try:
            with transaction.atomic():  # a savepoint: the dedup index may refuse it
                _move(job, to=target, max_attempts=job.max_attempts)
        except IntegrityError:
            raise JobActionRefused(
                f"another job with the key {job.key} is queued or running", code="job_key_live"
            ) from None
        if target == JobState.QUEUED:
            ring_on_commit([job.queue])
    logger.warning("engine.job_requeued job=%s key=%s kind=%s state=%s by=%s", job.pk, job.key, job.kind, target, actor)
    return job


def _locked(job_id: int) -> tuple[Job, Stage]:
    job = Job.objects.select_for_update().filter(pk=job_id).first()
    if job is None:
        raise JobActionRefused(f"no job {job_id}", code="not_found")
    stage = Stage.objects.select_for_update().get(pk=job.stage_id)
    return job, stage


def _require_open_round(job: Job, stage: Stage) -> None:
    if stage.cancel_requested_at is not None:
        raise JobActionRefused(f"the stage of job {job.key} was cancelled", code="stage_cancelled")
    if job.round != stage.round or stage.finalised_at is not None:
        raise JobActionRefused(
            f"the round of job {job.key} is over (its stage was finalised): retry it from its campaign, run or "
            "scan, whose retry opens a new round",
            code="job_round_closed",
        )


def _require_rerun_allowed(stage: Stage) -> None:
    if not stage_kind(stage.kind).rerun_ended_jobs:
        raise JobActionRefused(
            f"a failed {stage.kind} job is retried by its domain (a phase retry, Continue, a service retry), "
            "not one by one from here",
            code="job_rerun_not_supported",
        )


def _uncount_failed(job: Job) -> None:
    """Take a failed job's end back out of its round (the round is open: checked under the stage lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE orchestration_stage SET failed = failed - 1 "
            "WHERE id = %s AND round = %s AND finalised_at IS NULL AND failed > 0",
            [job.stage_id, job.round],
        )
        if cursor.rowcount != 1:
            raise JobActionRefused(f"the round of job {job.key} does not count it as failed", code="job_not_counted")


def _move(job: Job, *, to: str, max_attempts: int | None = None) -> None:
    """`job.state → to`, guarded on the state checked under the lock; the claim token is cleared, so
    nothing that held the job before can end it."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE orchestration_job
            SET state = %s, available_at = now(), lease_owner = '', lease_expires_at = NULL, finished_at = NULL,
                max_attempts = coalesce(%s, max_attempts)
            WHERE id = %s AND state = %s
            """,
            [to, max_attempts, job.pk, job.state],
        )
        if cursor.rowcount != 1:
            raise JobActionRefused(f"job {job.key} changed state meanwhile", code="job_state_changed")
    job.state = to
