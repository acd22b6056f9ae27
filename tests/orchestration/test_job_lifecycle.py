"""Jobs run on a real worker: success, automatic retry with backoff, fatal errors, fan-in."""

import pytest

from orchestration import diagnostics
from orchestration.models import Event, Job, JobState

from ..helpers import wait_until
from .engine import finalised, probe, start_stage

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_stage_of_jobs_runs_and_fans_in_once(celery_worker):
    stage = start_stage([probe(f"life:ok:{i}") for i in range(10)], ref="life-ok")

    done = wait_until(lambda: finalised(stage), message="stage finalised")

    assert (done.total, done.succeeded, done.failed, done.errored) == (10, 10, 0, 0)
    assert set(Job.objects.filter(stage=stage).values_list("state", flat=True)) == {JobState.SUCCEEDED}
    assert [e.type for e in Event.objects.filter(stream="diag:life-ok")] == ["stage_finalised"]
    assert all(diagnostics.probe_runs(f"life:ok:{i}") == 1 for i in range(10))


def test_retryable_errors_are_retried_with_backoff_until_success(celery_worker):
    stage = start_stage([probe("life:flaky", fail_until=3)], ref="life-flaky", max_attempts=3)

    done = wait_until(lambda: finalised(stage), message="stage finalised")

    job = Job.objects.get(stage=stage)
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 3)
    assert done.succeeded == 1
    assert diagnostics.probe_runs("life:flaky") == 3


def test_retryable_errors_past_the_limit_end_the_job_failed(celery_worker):
    stage = start_stage([probe("life:hopeless", fail_until=99)], ref="life-hopeless", max_attempts=2)

    done = wait_until(lambda: finalised(stage), message="stage finalised")

    job = Job.objects.get(stage=stage)
    assert (job.state, job.attempts, job.error_code, job.error_retryable) == (JobState.FAILED, 2, "probe_retry", True)
    assert done.failed == 1


def test_fatal_errors_end_the_job_as_error_without_retry(celery_worker):
    stage = start_stage([probe("life:fatal", fatal=True)], ref="life-fatal", max_attempts=5)

    done = wait_until(lambda: finalised(stage), message="stage finalised")

    job = Job.objects.get(stage=stage)
    assert (job.state, job.attempts, job.error_code, job.error_retryable) == (JobState.ERROR, 1, "probe_fatal", False)
    assert done.errored == 1
    assert diagnostics.probe_runs("life:fatal") == 1


def test_a_round_with_no_jobs_is_finalised_at_once(db):
    stage = start_stage([], ref="life-empty")

    assert finalised(stage) is not None
    assert Event.objects.filter(stream="diag:life-empty", type="stage_finalised").count() == 1
