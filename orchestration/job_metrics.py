"""The engine's per-job observations, one call each from the claim and from the end of a run."""

from __future__ import annotations

from collections.abc import Iterable

from . import metrics
from .models import Job

NOT_ENDED = ("stale", "unsettled")  # `job_end_durably` answers: the end was not ours, or not recorded


def jobs_claimed(jobs: Iterable[Job]) -> None:
    """Claim latency: from due (`available_at`) to claimed (`started_at`), both PostgreSQL's clock."""
    for job in jobs:
        if job.started_at is not None:
            waited = (job.started_at - job.available_at).total_seconds()
            metrics.observe("relay_job_claim_latency_seconds", max(waited, 0.0), kind=job.kind, queue=job.queue)


def job_ran(job: Job, *, state: str, seconds: float) -> None:
    """Duration of one attempt whose end was recorded (`state` is what `job_end_durably` answered)."""
    if state not in NOT_ENDED:
        metrics.observe("relay_job_duration_seconds", seconds, kind=job.kind, queue=job.queue, state=state)
