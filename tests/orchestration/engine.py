"""Builders for engine tests: diagnostic stages whose probe jobs do what the payload says."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from orchestration import diagnostics, stages
from orchestration.models import Job, Stage
from orchestration.recovery import recover_expired_jobs
from orchestration.runner import job_claim

# A queue no shared worker consumes: jobs there run only where a test says so.
PRIVATE_QUEUE = "tests-private"


def probe(key: str, *, queue: str | None = None, **payload: Any) -> stages.JobSpec:
    return stages.JobSpec(key=key, kind=diagnostics.JOB_KIND, payload=payload, queue=queue)


def start_stage(jobs: list[stages.JobSpec], *, ref: str = "test", max_attempts: int = 3) -> Stage:
    with transaction.atomic():
        stage = stages.stage_create(
            kind=diagnostics.STAGE_KIND, ref=ref, stream=f"diag:{ref}", max_attempts=max_attempts
        )
        stages.stage_start_round(stage=stage, jobs=jobs)
    return stage


def finalised(stage: Stage) -> Stage | None:
    stage.refresh_from_db()
    return stage if stage.finalised_at is not None else None


def zombie_of(job_id: int) -> Job:
    """Claim the job, then let the sweeper take it back (the lease expired): the returned object is
    what the old worker still holds."""
    zombie = job_claim(job_id)
    assert zombie is not None
    Job.objects.filter(pk=job_id).update(lease_expires_at="2000-01-01T00:00:00Z")
    assert recover_expired_jobs() == 1
    assert Job.objects.get(pk=job_id).lease_owner != zombie.lease_owner
    return zombie
