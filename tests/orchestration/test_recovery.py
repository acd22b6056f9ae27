"""A job whose worker is SIGKILLed is recovered and completes; a late zombie cannot end it."""

import os
import signal
import time

import pytest

from orchestration import diagnostics
from orchestration.ending import Outcome, job_end
from orchestration.models import Job, JobState
from orchestration.recovery import recover_expired_jobs
from orchestration.runner import job_claim

from ..helpers import wait_until
from .engine import PRIVATE_QUEUE, finalised, probe, start_stage

pytestmark = pytest.mark.django_db(transaction=True)


def running_job(key: str) -> Job | None:
    return Job.objects.filter(key=key, state=JobState.RUNNING).exclude(worker="").first()


def test_a_job_whose_pool_process_is_sigkilled_is_recovered_and_completes(worker_factory):
    worker = worker_factory(concurrency=1, queues="kill-pool")
    stage = start_stage([probe("recover:pool", sleep=2, queue="kill-pool")], ref="recover-pool")
    job = wait_until(lambda: running_job("recover:pool"), message="job running")
    pid = int(job.worker.rsplit(":", 1)[1])

    os.kill(pid, signal.SIGKILL)  # the pool process dies mid-job; its lease stops being renewed

    wait_until(lambda: recover_expired_jobs() > 0, timeout=30, interval=0.5, message="lease expired")
    done = wait_until(lambda: finalised(stage), timeout=60, message="stage finalised")
    job.refresh_from_db()
    assert (job.state, job.attempts, done.succeeded) == (JobState.SUCCEEDED, 2, 1)
    assert diagnostics.probe_runs("recover:pool") == 2  # the killed run started, the recovered one finished
    assert worker.process.poll() is None, "the worker's main process replaced its pool process"


def test_a_job_whose_whole_worker_is_sigkilled_is_recovered_by_the_next_worker_at_start(worker_factory):
    first = worker_factory(concurrency=1, queues="kill-worker")
    stage = start_stage([probe("recover:worker", sleep=2, queue="kill-worker")], ref="recover-worker")
    wait_until(lambda: running_job("recover:worker"), message="job running")

    first.kill()
    time.sleep(3.5)  # past the 3 s test lease
    worker_factory(concurrency=1, queues="kill-worker")  # sweeps for lost jobs when it starts

    done = wait_until(lambda: finalised(stage), timeout=60, message="stage finalised")
    assert done.succeeded == 1
    job = Job.objects.get(key="recover:worker")
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 2)
    assert diagnostics.probe_runs("recover:worker") == 2


def test_a_zombie_worker_cannot_end_a_job_that_was_taken_back(db):
    stage = start_stage([probe("recover:zombie", queue=PRIVATE_QUEUE)], ref="recover-zombie")
    zombie = job_claim(Job.objects.get(key="recover:zombie").pk)
    Job.objects.filter(pk=zombie.pk).update(lease_expires_at="2000-01-01T00:00:00Z")
    assert recover_expired_jobs() == 1
    fresh = job_claim(zombie.pk)

    assert job_end(job=zombie, outcome=Outcome(result={"zombie": True}), token=zombie.lease_owner) == "stale"
    assert job_end(job=fresh, outcome=Outcome(result={}), token=fresh.lease_owner) == JobState.SUCCEEDED
    assert finalised(stage).succeeded == 1


def test_a_lost_job_on_its_last_attempt_ends_failed(db):
    stage = start_stage([probe("recover:last", queue=PRIVATE_QUEUE)], ref="recover-last", max_attempts=1)
    job = job_claim(Job.objects.get(key="recover:last").pk)
    Job.objects.filter(pk=job.pk).update(lease_expires_at="2000-01-01T00:00:00Z")

    recover_expired_jobs()

    job.refresh_from_db()
    assert (job.state, job.error_code) == (JobState.FAILED, "worker_lost")
    assert finalised(stage).failed == 1
