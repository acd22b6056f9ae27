"""The sweeper: jobs whose lease expired (their worker died) go back to their domain's decision."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from . import metrics
from .dispatch import Dispatch, publish_on_commit
from .errors import WORKER_LOST, JobError
from .models import Job, JobState
from .registry import LostAction, stage_kind
from .runner import Outcome, job_end

logger = logging.getLogger(__name__)


def recover_expired_jobs(*, limit: int = 500) -> int:
    """Hand back running jobs whose lease expired. Safe to run from any number of processes at once:
    rows are taken with SKIP LOCKED and every change is guarded on the lease token."""
    recovered = 0
    with transaction.atomic():
        lost = list(
            Job.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("stage")
            .filter(state=JobState.RUNNING, lease_expires_at__lt=timezone.now())
            .order_by("id")[:limit]
        )
        for job in lost:
            action = stage_kind(job.stage.kind).on_job_lost(job)
            logger.warning(
                "engine.job_lost job=%s key=%s worker=%s attempt=%s action=%s",
                job.pk,
                job.key,
                job.worker,
                job.attempts,
                action,
            )
            metrics.incr("relay_jobs_lost_total", kind=job.kind)
            held = Job.objects.filter(pk=job.pk, state=JobState.RUNNING, lease_owner=job.lease_owner)
            released = {
                "lease_owner": "",
                "lease_expires_at": None,
                "error_code": WORKER_LOST,
                "error_message": f"worker {job.worker} stopped renewing its lease",
                "error_retryable": True,
            }
            if action is LostAction.PAUSE:
                held.update(state=JobState.PENDING, published_at=None, **released)
            elif action is LostAction.REQUEUE and job.attempts >= job.max_attempts:
                error = JobError(f"worker {job.worker} was lost on the last attempt", code=WORKER_LOST)
                job_end(job=job, outcome=Outcome(error=error), token=job.lease_owner)
            else:
                # Not the job's fault: requeue at once, without backoff.
                now = timezone.now()
                updated = held.update(state=JobState.QUEUED, available_at=now, published_at=now, **released)
                if updated:
                    publish_on_commit([Dispatch(job_id=job.pk, key=job.key, queue=job.queue)])
            recovered += 1
    return recovered
