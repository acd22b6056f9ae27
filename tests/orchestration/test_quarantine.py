"""An operator quarantines a job (no worker claims it, nothing treats it as lost, its round waits for it)
and re-queues it (it runs, its round fans in), on real workers; refusals change nothing."""

import pytest
from django.db import transaction

from orchestration import diagnostics, dispatch, stages
from orchestration.cancel import stage_cancel
from orchestration.errors import JobActionRefused
from orchestration.job_actions import job_quarantine, job_requeue
from orchestration.models import Job, JobState, Stage
from orchestration.recovery import recover_expired_jobs
from orchestration.runner import job_claim, job_execute

from ..helpers import wait_until
from .engine import PRIVATE_QUEUE, finalised, probe, start_stage

pytestmark = pytest.mark.django_db(transaction=True)


def job(key: str) -> Job:
    return Job.objects.get(key=key)


def test_a_quarantined_job_is_not_run_while_its_queue_drains_and_runs_once_re_queued(worker_factory):
    queue = "tests-quarantine"
    stage = start_stage([probe(f"quarantine:{i}", queue=queue) for i in range(5)], ref="quarantine")
    held = job_quarantine(job_id=job("quarantine:0").pk, actor="test")  # first in claim order

    worker_factory(concurrency=1, queues=queue)
    wait_until(lambda: Stage.objects.get(pk=stage.pk).succeeded == 4, message="the other four ran")
    # A later stage's job behind it in claim order: once it has run, a drain has passed the quarantined one.
    later = start_stage([probe("quarantine:later", queue=queue)], ref="quarantine-later")
    wait_until(lambda: finalised(later), message="the later job ran")

    assert (job("quarantine:0").state, diagnostics.probe_runs("quarantine:0")) == (JobState.QUARANTINED, 0)
    assert recover_expired_jobs() == 0 and job("quarantine:0").state == JobState.QUARANTINED  # not lost
    assert dispatch.due_counts().get(queue, 0) == 0  # the reconciler rings for nothing
    waiting = Stage.objects.get(pk=stage.pk)
    assert (waiting.status, waiting.finalised_at, waiting.total, waiting.succeeded) == ("running", None, 5, 4)

    job_requeue(job_id=held.pk, actor="test")

    done = wait_until(lambda: finalised(stage), message="the stage fanned in")
    assert (done.total, done.succeeded, done.failed) == (5, 5, 0)
    ran = job("quarantine:0")
    assert (ran.state, ran.attempts, diagnostics.probe_runs("quarantine:0")) == (JobState.SUCCEEDED, 1, 1)


def test_a_failed_job_of_an_open_round_is_re_queued_with_fresh_attempts_and_its_round_fans_in(celery_worker):
    # `fail_until=2` fails its first attempt; the stage allows one; the private job keeps the round open.
    stage = start_stage(
        [probe("requeue:flaky", fail_until=2), probe("requeue:other", queue=PRIVATE_QUEUE)],
        ref="requeue",
        max_attempts=1,
    )
    wait_until(lambda: job("requeue:flaky").state == JobState.FAILED, message="the flaky job failed")
    assert Stage.objects.get(pk=stage.pk).failed == 1

    job_requeue(job_id=job("requeue:flaky").pk, actor="test")

    wait_until(lambda: job("requeue:flaky").state == JobState.SUCCEEDED, message="the re-queued job succeeded")
    rerun = job("requeue:flaky")
    assert (rerun.attempts, rerun.max_attempts) == (2, 2)  # the count goes on; a fresh allowance on top
    assert job_execute(job("requeue:other").pk) == JobState.SUCCEEDED
    done = finalised(stage)
    assert done is not None and (done.succeeded, done.failed) == (2, 0)


def test_a_failed_job_quarantined_leaves_its_round_waiting_for_it(db):
    stage = start_stage(
        [probe("hold:failed", fail_until=9, queue=PRIVATE_QUEUE), probe("hold:ok", queue=PRIVATE_QUEUE)],
        ref="hold",
        max_attempts=1,
    )
    assert job_execute(job("hold:failed").pk) == JobState.FAILED

    job_quarantine(job_id=job("hold:failed").pk)
    assert job_execute(job("hold:ok").pk) == JobState.SUCCEEDED

    waiting = Stage.objects.get(pk=stage.pk)
    assert (waiting.finalised_at, waiting.succeeded, waiting.failed) == (None, 1, 0)
    assert job_claim(job("hold:failed").pk) is None  # not even a named claim takes it


def refused(action, job_id: int) -> str:
    before = Job.objects.filter(pk=job_id).values().get()
    with pytest.raises(JobActionRefused) as caught:
        action(job_id=job_id)
    assert Job.objects.filter(pk=job_id).values().get() == before, "a refusal changed the job"
    return caught.value.code


def test_jobs_in_the_wrong_state_are_refused_and_nothing_changes(db):
    start_stage([probe("wrong:running", queue=PRIVATE_QUEUE), probe("wrong:queued", queue=PRIVATE_QUEUE)], ref="w")
    running = job_claim(job("wrong:running").pk)
    assert running is not None

    assert refused(job_quarantine, running.pk) == "job_not_quarantinable"
    assert refused(job_requeue, running.pk) == "job_not_requeueable"
    assert refused(job_requeue, job("wrong:queued").pk) == "job_not_requeueable"

    done = start_stage([probe("wrong:done", queue=PRIVATE_QUEUE, fail_until=9)], ref="done", max_attempts=1)
    assert job_execute(job("wrong:done").pk) == JobState.FAILED and finalised(done)
    assert refused(job_requeue, job("wrong:done").pk) == "job_round_closed"  # the domain settled the round
    assert refused(job_quarantine, job("wrong:done").pk) == "job_round_closed"


def test_a_re_queue_is_refused_while_another_job_with_its_key_is_live(db):
    first = start_stage([probe("dup:key", queue=PRIVATE_QUEUE)], ref="dup-1")
    held = job_quarantine(job_id=job("dup:key").pk)
    start_stage([probe("dup:key", queue=PRIVATE_QUEUE)], ref="dup-2")  # the key is free while it is set aside

    assert refused(job_requeue, held.pk) == "job_key_live"
    assert Stage.objects.get(pk=first.pk).finalised_at is None


def test_cancelling_a_stage_ends_its_quarantined_jobs_and_finalises_it(db):
    stage = start_stage([probe("cancel:held", queue=PRIVATE_QUEUE)], ref="cancel-held")
    held = job_quarantine(job_id=job("cancel:held").pk)

    with transaction.atomic():
        stage_cancel(stage=stage)

    assert job("cancel:held").state == JobState.CANCELLED
    assert finalised(stage) is not None
    assert refused(job_requeue, held.pk) == "job_not_requeueable"


def test_a_job_re_queued_while_its_stage_is_paused_waits_as_pending_for_the_resume(db):
    stage = start_stage([probe("paused:held", queue=PRIVATE_QUEUE)], ref="paused-held")
    held = job_quarantine(job_id=job("paused:held").pk)
    stages.stage_pause(stage=stage)

    job_requeue(job_id=held.pk)
    assert job("paused:held").state == JobState.PENDING

    with transaction.atomic():
        assert stages.stage_resume(stage=stage) == 1
    assert job_execute(held.pk) == JobState.SUCCEEDED
    assert finalised(stage) is not None
