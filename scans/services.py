"""Scan use cases: start a scan, retry some of its services, and the state changes the engine hooks
make (a service starts, a service ends, a round ends). Every status change is a compare-and-set
checked against the transition tables in `models.py`.

Lock order (the engine's rule): scan row → execution rows (primary-key order) → stage row → event stream.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from core.change_feed import tenant_feeds
from core.exceptions import ApplicationError, Conflict
from orchestration import announce, cancel, events, fencing, metrics, retention, stages
from orchestration.db import retry_on_conflict
from orchestration.models import Job, JobState, Priority, Stage
from tenants.fair_share import tenant_fairness_key
from tenants.models import Tenant, User

from .models import FINAL_STATUSES, ExecutionStatus, InvalidTransition, Scan, ScanStatus, ServiceExecution, scan_stream
from .pages import pages_discard
from .selectors import retry_rejection

logger = logging.getLogger(__name__)

STAGE_KIND = "scan"
JOB_KIND = "scan.service"


def job_key(*, scan_id: Any, service: str) -> str:
    return f"scan:{scan_id}:{service}"


def _service_job(scan: Scan, service: str) -> stages.JobSpec:
    return stages.JobSpec(
        key=job_key(scan_id=scan.pk, service=service),
        kind=JOB_KIND,
        payload={"scan": str(scan.pk), "service": service, "url": scan.url, "keywords": list(scan.keywords)},
    )


def scan_transition(*, scan: Scan, target: str, **fields: Any) -> None:
    """Move `scan` to `target` if the table allows it and nobody moved it first (compare-and-set)."""
    scan.check_transition(target)
    updated = Scan.objects.filter(pk=scan.pk, status=scan.status).update(status=target, **fields)
    if updated != 1:
        current = Scan.objects.filter(pk=scan.pk).values_list("status", flat=True).first() or "gone"
        raise InvalidTransition("scan", current, target)
    scan.status = target
    for name, value in fields.items():
        setattr(scan, name, value)


def scan_create(
    *,
    tenant: Tenant,
    actor: User | None,
    url: str,
    services: Sequence[str],
    keywords: Sequence[str] = (),
    max_attempts: int = 2,
) -> Scan:
    """Record the scan, one execution per service and one engine job per service, in one transaction:
    the jobs are published after commit, so a scan is never half created."""
    chosen = list(dict.fromkeys(services))
    with transaction.atomic():
        scan = Scan.objects.create(
            tenant=tenant,
            created_by=actor,
            url=url,
            keywords=list(keywords),
            services=chosen,
            max_attempts=max_attempts,
        )
        ServiceExecution.objects.bulk_create(
            [ServiceExecution(scan=scan, service=name, attempts=1, round=1) for name in chosen]
        )
        # One engine attempt per user-visible attempt: a failing service is retried by a person (and
        # counted in `attempts`), never silently by the engine. See `jobs.on_service_job_lost`.
        stage = stages.stage_create(
            kind=STAGE_KIND,
            ref=scan.stream,
            stream=scan.stream,
            max_attempts=1,
            fairness_key=tenant_fairness_key(tenant.pk),
            priority=Priority.INTERACTIVE,  # someone is waiting for a scan
        )
        Scan.objects.filter(pk=scan.pk).update(stage=stage)
        scan.stage = stage
        stages.stage_start_round(stage=stage, jobs=[_service_job(scan, name) for name in chosen])
        events.emit(
            stream=scan.stream,
            feeds=scan.feeds,
            type="scan_started",
            payload={"scanId": str(scan.pk), "url": url, "services": chosen, "round": stage.round},
        )
        metrics.incr("relay_scans_started_total")
        # The scan as this transaction created it: workers may start it the moment it commits, and the
        # 201 answer describes the created resource, not whatever a worker did since.
        prefetch_related_objects([scan], "executions")
    logger.info("scans.scan_created tenant=%s scan=%s services=%s", tenant.pk, scan.pk, ",".join(chosen))
    return scan


@dataclass(frozen=True)
class RetryOutcome:
    scan: Scan
    services: list[str]
    round: int


def scan_check_may_retry(*, user: User, scan: Scan) -> None:
    """403 unless `user` may retry `scan` (the API and the console ask before `scan_retry`)."""
    # Retrying spends provider quota and worker time: the scan's author or a tenant admin decides.
    if not user.is_tenant_admin and scan.created_by_id != user.pk:
        raise ApplicationError(
            "Only the scan's author or a tenant admin may retry it.", code="permission_denied", status=403
        )


def scan_retry(*, scan: Scan, actor: User, services: Sequence[str] | None) -> RetryOutcome:
    """Re-run failed services of a finished scan in a new engine round.

    `services=None` retries every retryable failed service. Naming one that cannot be retried rejects
    the whole request (nothing is retried). The scan row lock serialises concurrent retries; the first
    moves the scan to `running`, so the others answer 409 and attempts are counted once.
    """
    with transaction.atomic():
        scan = Scan.objects.select_for_update().get(pk=scan.pk)
        if scan.status not in FINAL_STATUSES:
            raise Conflict(f"The scan is {scan.status}; retry when it has finished.", code="SCAN_RUNNING")
        locked = {
            row.service: row for row in ServiceExecution.objects.select_for_update().filter(scan=scan).order_by("pk")
        }
        executions = {name: locked[name] for name in scan.services if name in locked}
        if services is None:
            chosen = [name for name, execution in executions.items() if execution.can_retry(scan.max_attempts)]
            if not chosen:
                raise ApplicationError("No failed service of this scan can be retried.", code="NO_RETRYABLE_SERVICES")
        else:
            chosen = list(dict.fromkeys(services))
            rejected = {}
            for name in chosen:
                rejection = retry_rejection(scan=scan, service=name, execution=executions.get(name))
                if rejection is not None:
                    rejected[name] = {"code": rejection[0], "message": rejection[1]}
            if rejected:
                first = next(iter(rejected.values()))
                raise ApplicationError(
                    first["message"] if len(rejected) == 1 else f"{len(rejected)} services cannot be retried.",
                    code=first["code"],
                    fields={"services": {name: [r["message"]] for name, r in rejected.items()}},
                    extra={"rejectedServices": rejected},
                )
        assert scan.stage_id is not None  # set in the scan's creating transaction
        stage = Stage.objects.get(pk=scan.stage_id)
        next_round = stage.round + 1
        for name in sorted(chosen, key=lambda n: executions[n].pk):
            execution = executions[name]
            execution.check_transition(ExecutionStatus.PENDING)
            execution.status = ExecutionStatus.PENDING
            execution.attempts += 1
            execution.round = next_round
            execution.result = None
            execution.error_code = execution.error_message = ""
            execution.error_retryable = None
            execution.execution_time_ms = None
            execution.started_at = execution.finished_at = None
            execution.save()
        scan_transition(scan=scan, target=ScanStatus.RUNNING, finished_at=None)
        stages.stage_start_round(stage=stage, jobs=[_service_job(scan, name) for name in chosen])
        events.emit(
            stream=scan.stream,
            feeds=scan.feeds,
            type="retry_started",
            payload={
                "scanId": str(scan.pk),
                "services": chosen,
                "round": stage.round,
                "attempts": {name: executions[name].attempts for name in chosen},
            },
        )
        for name in chosen:
            metrics.incr("relay_scan_service_retries_total", service=name)
    logger.info(
        "scans.retry_started tenant=%s scan=%s round=%s services=%s actor=%s",
        scan.tenant_id,
        scan.pk,
        stage.round,
        ",".join(chosen),
        actor.pk,
    )
    return RetryOutcome(scan=scan, services=chosen, round=stage.round)


def execution_mark_running(*, scan_id: str, service: str, job: Job) -> None:
    """A service job started on a worker (called by the job, outside the ending transaction); fenced,
    so a worker whose job was taken away changes nothing."""
    with fencing.fenced(job):
        now = timezone.now()
        started = ServiceExecution.objects.filter(
            scan_id=scan_id, service=service, status=ExecutionStatus.PENDING
        ).update(status=ExecutionStatus.RUNNING, started_at=now)
        stream = scan_stream(scan_id)
        if started:
            events.emit(
                stream=stream,
                type="service_started",
                payload={"service": service, "round": job.round, "worker": job.worker},
            )
        # The first service to start moves the scan from pending to running: a status change, so the
        # tenant's change feed is rung (the tenant read only then, once per scan).
        moved = Scan.objects.filter(pk=scan_id, status=ScanStatus.PENDING).update(
            status=ScanStatus.RUNNING, started_at=now
        )
        if moved:
            tenant_id = Scan.objects.values_list("tenant_id", flat=True).get(pk=scan_id)
            announce.ring_feeds_after_commit(feeds=tenant_feeds(tenant_id), note=stream)


def execution_record_end(*, job: Job) -> None:
    """Inside the transaction that ends the job: the service's outcome commits with the job's state."""
    scan_id, service = job.payload["scan"], job.payload["service"]
    execution = ServiceExecution.objects.select_for_update().filter(scan_id=scan_id, service=service).first()
    if execution is None or execution.status not in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING):
        logger.warning("scans.stale_service_end scan=%s service=%s job=%s", scan_id, service, job.key)
        return
    now = timezone.now()
    ok = job.state == JobState.SUCCEEDED
    if job.state == JobState.CANCELLED:
        _executions_cancel(scan_id=scan_id, services=[service])
        return
    target = ExecutionStatus.SUCCESS if ok else ExecutionStatus.FAILED
    execution.check_transition(target)
    execution.status = target
    execution.result = job.result if ok else None
    execution.error_code = "" if ok else job.error_code
    execution.error_message = "" if ok else job.error_message
    execution.error_retryable = None if ok else bool(job.error_retryable)
    execution.finished_at = now
    if job.started_at is not None:
        execution.execution_time_ms = max(int((now - job.started_at).total_seconds() * 1000), 0)
    execution.save()
    error = (
        None
        if ok
        else {"code": execution.error_code, "message": execution.error_message, "retryable": execution.error_retryable}
    )
    events.emit(
        stream=scan_stream(scan_id),
        type="service_completed" if ok else "service_failed",
        payload={
            "service": service,
            "status": target,
            "round": job.round,
            "executionTimeMs": execution.execution_time_ms,
            "attempts": execution.attempts,
            "error": error,
        },
    )
    metrics.incr("relay_scan_services_ended_total", service=service, status=target)
    logger.info(
        "scans.service_end scan=%s service=%s job=%s status=%s code=%s ms=%s",
        scan_id,
        service,
        job.key,
        target,
        execution.error_code,
        execution.execution_time_ms,
    )


def scan_outcome(statuses: Sequence[str]) -> str:
    succeeded = sum(1 for status in statuses if status == ExecutionStatus.SUCCESS)
    if statuses and succeeded == len(statuses):
        return ScanStatus.COMPLETED
    return ScanStatus.PARTIAL if succeeded else ScanStatus.FAILED


def scan_finalise(*, stage: Stage) -> None:
    """Once per engine round, in the transaction of the job that ended it: recalculate the scan status
    from every service (including those a partial retry did not touch)."""
    scan = Scan.objects.select_for_update().get(stage=stage)
    if stage.cancel_requested_at is not None:
        _scan_finalise_cancelled(scan=scan, stage=stage)
        return
    statuses = dict(scan.executions.values_list("service", "status"))
    outcome = scan_outcome(list(statuses.values()))
    now = timezone.now()
    if scan.status == ScanStatus.PENDING:  # every job ended before any could mark the scan running
        scan_transition(scan=scan, target=ScanStatus.RUNNING, started_at=now)
    scan_transition(scan=scan, target=outcome, finished_at=now)
    events.emit(
        stream=scan.stream,
        feeds=scan.feeds,
        type="scan_completed",
        payload={
            "scanId": str(scan.pk),
            "status": outcome,
            "round": stage.round,
            "services": statuses,
        },
    )
    pages_discard(scan_id=scan.pk)  # every job of the round has ended: nobody reads its page any more
    metrics.incr("relay_scans_finalised_total", status=outcome)
    logger.info(
        "scans.scan_finalised tenant=%s scan=%s round=%s status=%s", scan.tenant_id, scan.pk, stage.round, outcome
    )


@dataclass(frozen=True)
class CancelOutcome:
    scan: Scan
    already: bool  # a duplicate cancel: nothing changed


@retry_on_conflict(attempts=3)
def scan_cancel(*, scan: Scan, actor: User) -> CancelOutcome:
    """Cancel a scan that has not finished: services not started never run, running ones end
    `cancelled` unless they finish first (their results are kept); the scan ends `cancelled` once
    nothing runs. A second cancel is a no-op; a finished scan cannot be cancelled (409)."""
    with transaction.atomic():
        scan = Scan.objects.select_for_update().get(pk=scan.pk)
        if scan.cancelled_at is not None:
            return CancelOutcome(scan=scan, already=True)
        if scan.status in FINAL_STATUSES or scan.stage is None:
            raise Conflict(f"The scan is {scan.status} already; there is nothing to cancel.", code="scan_finished")
        now = timezone.now()
        Scan.objects.filter(pk=scan.pk).update(cancelled_at=now, cancelled_by=actor)
        events.emit(stream=scan.stream, type="scan_cancel_requested", payload={"scanId": str(scan.pk), "by": actor.pk})
        cancel.stage_cancel(stage=scan.stage)
    logger.info("scans.scan_cancel tenant=%s scan=%s actor=%s", scan.tenant_id, scan.pk, actor.pk)
    scan.refresh_from_db()
    return CancelOutcome(scan=scan, already=False)


def scan_delete(*, scan: Scan, actor: User) -> None:
    """Delete a finished scan with everything it left: executions, stored pages, its stage and jobs,
    its events. 409 `scan_running` while it is pending or running (cancel it first)."""
    with transaction.atomic():
        scan = Scan.objects.select_for_update().get(pk=scan.pk)
        if scan.status not in FINAL_STATUSES:
            raise Conflict(f"The scan is {scan.status}: cancel it before deleting it.", code="scan_running")
        stage_id, stream = scan.stage_id, scan.stream
        scan.delete()  # its executions and pages go with it (CASCADE)
        retention.stage_forget(stage_id)
        retention.stream_forget(stream)
    logger.info("scans.scan_deleted tenant=%s scan=%s actor=%s", scan.tenant_id, scan.pk, actor.pk)


def _executions_cancel(*, scan_id: Any, services: Sequence[str] | None = None) -> list[str]:
    unfinished = ServiceExecution.objects.filter(
        scan_id=scan_id, status__in=[ExecutionStatus.PENDING, ExecutionStatus.RUNNING]
    )
    if services is not None:
        unfinished = unfinished.filter(service__in=services)
    names = list(unfinished.values_list("service", flat=True))
    unfinished.update(status=ExecutionStatus.CANCELLED, finished_at=timezone.now(), error_code="cancelled")
    for name in names:
        events.emit(stream=scan_stream(scan_id), type="service_cancelled", payload={"service": name})
    return names


def _scan_finalise_cancelled(*, scan: Scan, stage: Stage) -> None:
    _executions_cancel(scan_id=scan.pk)  # services whose jobs were cancelled before they ran
    statuses = dict(scan.executions.values_list("service", "status"))
    scan_transition(scan=scan, target=ScanStatus.CANCELLED, finished_at=timezone.now())
    events.emit(
        stream=scan.stream,
        feeds=scan.feeds,
        type="scan_cancelled",
        payload={"scanId": str(scan.pk), "status": ScanStatus.CANCELLED, "round": stage.round, "services": statuses},
    )
    metrics.incr("relay_scans_finalised_total", status=ScanStatus.CANCELLED)
    logger.info("scans.scan_cancelled tenant=%s scan=%s round=%s", scan.tenant_id, scan.pk, stage.round)
