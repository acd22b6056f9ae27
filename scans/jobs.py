"""The scan's plug into the engine: stage kind `scan`, job kind `scan.service` (key
`scan:<id>:<service>`). Each service is its own job, so a slow or failing one never holds the others;
the page they all read is fetched once per round and shared (`pages.py`).

Attempts: the stage runs each job at most once on its own (`max_attempts=1`), so a failure reaches the
person at once and every further run is a retry they asked for (counted in `ServiceExecution.attempts`).
The one exception is a worker that died mid-service: not the service's fault, so the job is run once
more, transparently (`on_service_job_lost`); if that run is lost too, the service ends failed with the
retryable `worker_lost` and the person may retry it.
"""

from __future__ import annotations

import logging
from typing import Any

from orchestration.errors import JobError
from orchestration.models import Job, Stage
from orchestration.registry import JobKind, LostAction, StageKind, register_job_kind, register_stage_kind

from . import checks, conf, pages, services

logger = logging.getLogger(__name__)

LOST_WORKER_RERUNS = 1


def run_service_job(job: Job) -> dict[str, Any]:
    """On a worker, outside any transaction: mark the service running, then run its check."""
    scan_id, name = job.payload["scan"], job.payload["service"]
    services.execution_mark_running(scan_id=scan_id, service=name, job=job)
    try:
        service = checks.get(name)
    except LookupError:
        raise JobError.fatal(f"no scan service {name!r} is installed", code="unknown_service") from None
    logger.info("scans.service_start scan=%s service=%s job=%s attempt=%s", scan_id, name, job.key, job.attempts)
    settings = conf.check_settings()
    url = job.payload["url"]
    target = checks.ScanTarget(
        url=url,
        keywords=tuple(job.payload.get("keywords") or ()),
        load_page=lambda: pages.shared_page(scan_id=scan_id, round=job.round, url=url, settings=settings),
    )
    return service.run(target, settings)


def record_service_outcome(job: Job) -> None:
    services.execution_record_end(job=job)


def finalise_scan_round(stage: Stage) -> None:
    services.scan_finalise(stage=stage)


def on_service_job_lost(job: Job) -> LostAction:
    # The stage allows one attempt (user retries are the attempts). A lost worker gets one free re-run;
    # after that, REQUEUE ends the job `failed` (`worker_lost`, retryable by the person).
    return LostAction.RERUN if job.attempts <= LOST_WORKER_RERUNS else LostAction.REQUEUE


def register() -> None:
    register_stage_kind(
        StageKind(name=services.STAGE_KIND, finalise=finalise_scan_round, on_job_lost=on_service_job_lost)
    )
    register_job_kind(JobKind(name=services.JOB_KIND, run=run_service_job, on_end=record_service_outcome))
