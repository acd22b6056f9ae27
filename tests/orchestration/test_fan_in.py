"""Fan-in finalises exactly once, even when every message is delivered several times."""

import threading

import pytest
from django.db import connection, transaction

from orchestration import diagnostics, dispatch, stages
from orchestration.ending import Outcome, job_end
from orchestration.models import Event, Job, JobState
from orchestration.runner import job_claim

from ..helpers import wait_until
from .engine import PRIVATE_QUEUE, finalised, probe, start_stage

pytestmark = pytest.mark.django_db(transaction=True)


def test_duplicate_deliveries_run_each_job_once_and_finalise_once(celery_worker):
    keys = [f"fanin:dup:{i}" for i in range(30)]
    stage = start_stage([probe(key, sleep=0.02) for key in keys], ref="fanin-dup")
    # Many more doorbells than jobs, as after redeliveries, reconnects and a reconciler that rang too.
    for _ in range(3):
        dispatch.ring("jobs", wanted=30)

    done = wait_until(lambda: finalised(stage), message="stage finalised")

    assert (done.total, done.succeeded) == (30, 30)
    assert all(diagnostics.probe_runs(key) == 1 for key in keys)
    wait_until(lambda: celery_idle(stage), message="duplicate messages drained")
    assert Event.objects.filter(stream="diag:fanin-dup", type="stage_finalised").count() == 1


def celery_idle(stage) -> bool:
    return not Job.objects.filter(stage=stage).exclude(state=JobState.SUCCEEDED).exists()


def test_concurrent_ends_of_the_last_jobs_finalise_exactly_once(db):
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref="fanin-race", stream="diag:fanin-race")
        stages.stage_start_round(stage=stage, jobs=[probe(f"fanin:race:{i}", queue=PRIVATE_QUEUE) for i in range(20)])
    claimed = [job_claim(job.pk) for job in Job.objects.filter(stage=stage)]
    barrier = threading.Barrier(len(claimed))

    def end(job) -> None:
        try:
            barrier.wait()
            job_end(job=job, outcome=Outcome(result={}), token=job.lease_owner)
        finally:
            connection.close()

    threads = [threading.Thread(target=end, args=(job,)) for job in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert finalised(stage) is not None
    assert Event.objects.filter(stream="diag:fanin-race", type="stage_finalised").count() == 1


def test_ending_a_job_twice_counts_once(db):
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref="fanin-twice")
        stages.stage_start_round(
            stage=stage, jobs=[probe("fanin:twice:a", queue=PRIVATE_QUEUE), probe("fanin:twice:b", queue=PRIVATE_QUEUE)]
        )
    job = job_claim(Job.objects.get(key="fanin:twice:a").pk)

    assert job_end(job=job, outcome=Outcome(result={}), token=job.lease_owner) == JobState.SUCCEEDED
    assert job_end(job=job, outcome=Outcome(result={}), token=job.lease_owner) == "stale"

    stage.refresh_from_db()
    assert (stage.succeeded, stage.finalised_at) == (1, None)


def test_a_late_job_of_an_older_round_does_not_count_in_the_new_round(db):
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref="fanin-rounds")
        stages.stage_start_round(
            stage=stage,
            jobs=[probe("fanin:rounds:a", queue=PRIVATE_QUEUE), probe("fanin:rounds:b", queue=PRIVATE_QUEUE)],
        )
    old = job_claim(Job.objects.get(key="fanin:rounds:a").pk)
    with transaction.atomic():
        stages.stage_start_round(stage=stage, jobs=[probe("fanin:rounds:c", queue=PRIVATE_QUEUE)])

    job_end(job=old, outcome=Outcome(result={}), token=old.lease_owner)

    stage.refresh_from_db()
    assert (stage.round, stage.total, stage.succeeded, stage.finalised_at) == (2, 1, 0, None)
