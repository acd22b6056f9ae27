"""At most one live job per key, decided by PostgreSQL even under concurrent enqueues."""

import threading

import pytest
from django.db import connection, transaction

from orchestration import diagnostics, dispatch, stages
from orchestration.models import Job, JobState

from ..helpers import wait_until
from .engine import PRIVATE_QUEUE, finalised, probe, start_stage

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_key_enqueued_50_times_concurrently_runs_once(celery_worker):
    # The anchor keeps the round open while the 50 callers race; the hot job waits on a queue no
    # worker drains until the race is over, so it stays live throughout (were it to end mid-race, a
    # later caller would rightly get a new job: the key would no longer be live).
    stage = start_stage([probe("dedup:anchor", sleep=3)], ref="dedup-50")
    results: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def enqueue() -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                results.append(
                    stages.jobs_enqueue(stage=stage, jobs=[probe("dedup:hot", sleep=0.5, queue=PRIVATE_QUEUE)]).job_ids
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=enqueue) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len({ids[0] for ids in results}) == 1, "every caller got the same live job"
    Job.objects.filter(key="dedup:hot").update(queue="jobs")  # now let the worker have it
    dispatch.ring("jobs", wanted=1)
    done = wait_until(lambda: finalised(stage), message="stage finalised")
    assert Job.objects.filter(key="dedup:hot").count() == 1
    assert diagnostics.probe_runs("dedup:hot") == 1
    assert (done.total, done.succeeded) == (2, 2)


def test_enqueueing_a_live_key_is_a_no_op_that_returns_the_live_job(db):
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref="dedup-noop")
        first = stages.stage_start_round(stage=stage, jobs=[probe("dedup:noop", queue=PRIVATE_QUEUE)])
        again = stages.jobs_enqueue(
            stage=stage, jobs=[probe("dedup:noop", queue=PRIVATE_QUEUE), probe("dedup:noop", queue=PRIVATE_QUEUE)]
        )

    assert again.created == [] and again.existing == first.created
    stage.refresh_from_db()
    assert stage.total == 1
    assert Job.objects.filter(key="dedup:noop", state=JobState.QUEUED).count() == 1


def test_adding_jobs_to_a_finalised_round_is_refused(db):
    stage = start_stage([], ref="dedup-closed")

    with pytest.raises(ValueError, match="finalised"), transaction.atomic():
        stages.jobs_enqueue(stage=stage, jobs=[probe("dedup:closed")])

    assert not Job.objects.filter(key="dedup:closed").exists()


def test_a_key_may_run_again_once_its_previous_job_ended(db):
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref="dedup-again")
        stages.stage_start_round(stage=stage, jobs=[probe("dedup:again", queue=PRIVATE_QUEUE)])
    Job.objects.filter(key="dedup:again").update(state=JobState.FAILED)

    with transaction.atomic():
        retry = stages.stage_start_round(stage=stage, jobs=[probe("dedup:again", queue=PRIVATE_QUEUE)])

    assert len(retry.created) == 1
    assert Job.objects.filter(key="dedup:again").count() == 2
