"""Recovery that cannot jam: a domain hook that raises costs only its own job, a job that kills its
worker ends `failed` after its attempts, and the control lane sweeps while every data process is busy."""

import pytest
from django.db import transaction

from devstack.workers import start_control_plane
from orchestration import diagnostics, stages
from orchestration.errors import RECOVERY_FAILED, WORKER_LOST
from orchestration.models import Job, JobState, Stage
from orchestration.recovery import recover_expired_jobs
from orchestration.registry import LostAction, StageKind, register_stage_kind
from orchestration.runner import job_claim

from ..helpers import wait_until
from .engine import PRIVATE_QUEUE, finalised, probe, start_stage

pytestmark = pytest.mark.django_db(transaction=True)

JAM_STAGE = "tests.jam"


def _lost_or_raise(job: Job) -> LostAction:
    if job.payload.get("bad"):
        raise RuntimeError("the domain's recovery hook is broken for this job")
    return LostAction.REQUEUE


register_stage_kind(StageKind(name=JAM_STAGE, finalise=lambda stage: None, on_job_lost=_lost_or_raise))


def lose(job_ids: list[int]) -> None:
    """Play a worker that claimed these jobs and died: claimed, and their leases long expired."""
    for job_id in job_ids:
        assert job_claim(job_id) is not None
    Job.objects.filter(pk__in=job_ids).update(lease_expires_at="2000-01-01T00:00:00Z")


def test_a_hook_that_raises_costs_only_its_job_which_is_quarantined_after_three_sweeps(db):
    with transaction.atomic():
        stage = stages.stage_create(kind=JAM_STAGE, ref="jam")
        # The bad job comes first in the sweep's order, as it would every time.
        stages.stage_start_round(
            stage=stage,
            jobs=[probe("jam:bad", queue=PRIVATE_QUEUE, bad=True)]
            + [probe(f"jam:good:{i}", queue=PRIVATE_QUEUE) for i in range(3)],
        )
    ids = list(Job.objects.filter(stage=stage).order_by("id").values_list("id", flat=True))
    lose(ids)

    assert recover_expired_jobs() == 3  # every good job, in the same sweep as the bad one
    good = Job.objects.filter(key__startswith="jam:good:")
    assert set(good.values_list("state", "error_code")) == {(JobState.QUEUED, WORKER_LOST)}
    bad = Job.objects.get(key="jam:bad")
    assert (bad.state, bad.recovery_failures) == (JobState.RUNNING, 1)

    assert recover_expired_jobs() == 0  # second failure
    assert recover_expired_jobs() == 1  # third: quarantined
    bad.refresh_from_db()
    assert (bad.state, bad.error_code, bad.recovery_failures) == (JobState.ERROR, RECOVERY_FAILED, 3)
    stage.refresh_from_db()
    assert stage.errored == 1
    assert recover_expired_jobs() == 0  # nothing left to jam on


def test_a_job_that_kills_its_worker_every_time_ends_failed_after_its_attempts(worker_factory):
    worker = worker_factory(concurrency=1, queues="tests-killer")
    stage = start_stage([probe("killer", queue="tests-killer", kill_worker=True)], ref="killer", max_attempts=2)

    def swept_to_the_end() -> Stage | None:
        recover_expired_jobs()
        return finalised(stage)

    done = wait_until(swept_to_the_end, timeout=60, interval=0.5, message="killer ended")
    job = Job.objects.get(key="killer")
    assert (job.state, job.error_code, job.attempts) == (JobState.FAILED, WORKER_LOST, 2)
    assert (done.failed, done.succeeded) == (1, 0)
    assert diagnostics.probe_runs("killer") == 2  # no third run, no endless loop
    assert worker.process.poll() is None


def test_the_control_lane_sweeps_while_every_data_process_is_busy(celery_worker):
    lane = start_control_plane(env={"RELAY_RECOVER_INTERVAL_SECONDS": "1"})
    try:
        busy = start_stage([probe(f"busy:{i}", sleep=10) for i in range(2)], ref="busy")
        wait_until(lambda: Job.objects.filter(stage=busy, state=JobState.RUNNING).count() == 2, message="both busy")
        stage = start_stage([probe("lane:lost", queue=PRIVATE_QUEUE)], ref="lane")
        lose([Job.objects.get(key="lane:lost").pk])

        wait_until(
            lambda: Job.objects.filter(key="lane:lost", state=JobState.QUEUED, error_code=WORKER_LOST).exists(),
            timeout=8,
            message="lost job swept by the control lane",
        )
        assert Job.objects.filter(stage=busy, state=JobState.RUNNING).count() == 2, "the data lane is still busy"
        assert finalised(stage) is None
        wait_until(lambda: finalised(busy), timeout=30, message="busy jobs done")
    finally:
        lane.stop()


PAUSING_STAGE = "tests.pausing"
register_stage_kind(
    StageKind(name=PAUSING_STAGE, finalise=lambda stage: None, on_job_lost=lambda job: LostAction.PAUSE)
)


def test_the_pause_path_counts_lost_attempts_so_pause_and_resume_cannot_loop(db):
    with transaction.atomic():
        stage = stages.stage_create(kind=PAUSING_STAGE, ref="pausing", max_attempts=3)
        stages.stage_start_round(stage=stage, jobs=[probe("pausing:killer", queue=PRIVATE_QUEUE)])
    job_id = Job.objects.get(key="pausing:killer").pk
    for _ in range(2):
        lose([job_id])  # the worker dies holding it, every time
        assert recover_expired_jobs() == 1
        assert Job.objects.get(pk=job_id).state == JobState.PENDING  # parked: the domain resumes it
        with transaction.atomic():
            stage.refresh_from_db()
            stages.stage_resume(stage=stage)  # as a domain's auto-resume would, after each loss
    lose([job_id])
    assert recover_expired_jobs() == 1
    job = Job.objects.get(pk=job_id)
    assert (job.state, job.error_code, job.attempts) == (JobState.FAILED, WORKER_LOST, 3)
    stage.refresh_from_db()
    assert stage.failed == 1 and stage.finalised_at is not None
