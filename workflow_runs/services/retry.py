"""Continue: retry a run's `failed` files (a new reservation) and `pending` files (free: they keep theirs)."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from core.exceptions import ApplicationError, Conflict
from orchestration import events, metrics, stages
from tenants.models import User
from tenants.selectors import get_scoped

from .. import jobs
from ..models import RunStatus, WorkflowRun
from .credits import Movement, credit_account_lock, credits_reserve

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryResult:
    run: WorkflowRun
    reserved: Movement
    retried: list[int]  # file indexes
    reserved_files: int


def workflow_run_retry_failed(*, run_id: uuid.UUID | str, actor: User) -> RetryResult:
    """Retry the run's `failed` files (reserved at the run's snapshotted price) and `pending` files (free:
    our fault; they still hold the reservation of the round that never ran them), never `error` ones.

    One transaction: lock the run, check it, lock the tenant's credit account, reserve, mark the files
    `pending` with `retry_attempt + 1`, set the run `RUNNING` and open a new engine round over exactly
    the retried files. The jobs commit with the reservation and are published after commit (durably: the
    relay re-publishes a job whose message was lost), with the same natural keys as the first round
    (`run:<id>:file:<index>`, or `run:<id>` in batch mode), so a key can never be live twice.

    Why a new round and not the reference's "completed_jobs = failed_jobs = 0, keep total_jobs": after a
    partial retry of k of N files only k jobs will ever end, so `completed + failed` stops at k < N and
    the run would stay RUNNING for ever (and if counters were not reset it would finalise at once). The
    engine's round counts only this retry's jobs (`total = k`), so the run finalises exactly once, when
    the k-th retried job ends. The run's `total_jobs / completed_jobs / failed_jobs` mirror that round.

    Concurrency: the run row is locked first, so of simultaneous clicks exactly one sees the run not
    `RUNNING`; the others wait for its commit, then see `RUNNING` and get 409.
    """
    with transaction.atomic():
        run = get_scoped(WorkflowRun.objects.select_for_update(of=("self",)), user=actor, pk=run_id)
        if run.status == RunStatus.RUNNING:
            raise Conflict("The run is already running.", code="run_running")
        if run.status == RunStatus.COMPLETED:
            raise ApplicationError("Every file of this run completed: there is nothing to retry.", code="run_completed")
        if run.status == RunStatus.CANCELLED:
            raise ApplicationError("The run was cancelled: start a new run instead.", code="run_cancelled")
        retryable = _retryable_files(run=run)
        if not retryable.count:
            raise ApplicationError("No file of this run is failed or pending.", code="nothing_to_retry")
        if retryable.expired:
            # Retention deleted the uploads of this long-finished run (workflow_runs/retention.py).
            raise Conflict(
                "The run's uploaded files were deleted after the retention period: start a new run.",
                code="files_expired",
            )
        if retryable.exhausted:
            exhausted = retryable.exhausted
            raise ApplicationError(
                f"{len(exhausted)} file(s) reached the maximum of {run.max_retry_count} retries; nothing was retried.",
                code="max_retry_exceeded",
                fields={
                    "files": [
                        f"File {index} ({name}) was retried {attempt} times."
                        for index, name, attempt in exhausted[:100]
                    ]
                },
                extra={"exhaustedFiles": [index for index, _, _ in exhausted]},
            )
        reserved_files = retryable.failed
        assert run.stage is not None
        account = credit_account_lock(tenant=run.tenant_id)
        # The run's snapshotted price, never the template's or the price list's current one.
        reserved = credits_reserve(
            account=account, run=run, files=reserved_files, round=run.stage.round + 1, actor=actor, note="continue"
        )
        retried = _reopen_files(run=run)
        specs = jobs.round_jobs(run=run, files=retried)
        WorkflowRun.objects.filter(pk=run.pk, status=run.status).update(
            status=RunStatus.RUNNING,
            total_jobs=len(specs),
            completed_jobs=0,
            failed_jobs=0,
            finished_at=None,
            updated_at=timezone.now(),
        )
        stages.stage_start_round(stage=run.stage, jobs=specs)
        indexes = [index for _, index, _ in retried]
        events.emit(
            stream=run.stream,
            feeds=run.feeds,
            type="retry_started",
            payload={
                "files": len(indexes),
                "reservedFiles": reserved_files,
                "creditsReserved": reserved.total,
                "round": run.stage.round,
            },
        )
        metrics.incr("relay_workflow_retries_total", mode=run.mode)
        logger.info(
            "workflow.retry_started tenant=%s run=%s actor=%s files=%s reserved_files=%s credits=%s round=%s",
            run.tenant_id,
            run.pk,
            actor.pk,
            len(indexes),
            reserved_files,
            reserved.total,
            run.stage.round,
        )
    run.refresh_from_db()
    return RetryResult(run=run, reserved=reserved, retried=indexes, reserved_files=reserved_files)


@dataclass(frozen=True)
class Retryable:
    count: int  # failed or pending files
    failed: int  # of which failed (they are reserved again)
    expired: bool  # one of them lost its upload to retention
    exhausted: list[tuple[int, str, int]]  # (index, name, retry_attempt) of those out of retries


def _retryable_files(*, run: WorkflowRun) -> Retryable:
    """What Continue would retry, counted in the database: one row back, not one per file."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE status = 'failed'), coalesce(bool_or(file = ''), false),
                   coalesce(jsonb_agg(jsonb_build_array(index, name, retry_attempt) ORDER BY index)
                            FILTER (WHERE retry_attempt >= %s), '[]'::jsonb)
            FROM workflow_runs_runfile WHERE run_id = %s AND status IN ('failed', 'pending')
            """,
            [run.max_retry_count, run.pk],
        )
        count, failed, expired, exhausted = cursor.fetchone()
    if isinstance(exhausted, str):  # Django's psycopg setup loads jsonb as text
        exhausted = json.loads(exhausted)
    return Retryable(count, failed, expired, [(i, n, a) for i, n, a in exhausted])


def _reopen_files(*, run: WorkflowRun) -> list[tuple[int, int, int]]:
    """Mark the run's failed/pending files pending again, one retry attempt further; failed files become
    reserved (their reservation was just taken), pending ones keep theirs. One statement, so a
    10,000-file retry stays fast. Returns (pk, index, retry_attempt) per file."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE workflow_runs_runfile
            SET status = 'pending', retry_attempt = retry_attempt + 1, error_code = '', error_message = '',
                reserved = reserved OR status = 'failed', updated_at = now()
            WHERE run_id = %s AND status IN ('failed', 'pending')
            RETURNING id, index, retry_attempt
            """,
            [run.pk],
        )
        return sorted(cursor.fetchall(), key=lambda row: row[1])
