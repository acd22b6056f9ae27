"""Fair shares on real workers: a small tenant is not stuck behind a big one, caps hold across
processes, and a delayed retry is claimed on time whatever else waits."""

import threading
import time

import pytest
from django.db import connection, transaction

from orchestration import diagnostics, fairness, stages
from orchestration.models import Job, JobState, Stage

from ..helpers import wait_until
from .engine import finalised, probe

pytestmark = pytest.mark.django_db(transaction=True)


def tenant_stage(group: str, count: int, *, queue: str, ref: str, **payload) -> Stage:
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref=ref, fairness_key=group)
        stages.stage_start_round(
            stage=stage, jobs=[probe(f"{ref}:{i}", queue=queue, noop=True, **payload) for i in range(count)]
        )
    return stage


def test_a_small_tenant_finalises_while_the_big_tenants_backlog_is_still_large(worker_factory, control_plane):
    queue = "tests-fair-live"
    big = tenant_stage("tenant:a", 20_000, queue=queue, ref="fair-big", sleep=0.005)
    worker_factory(concurrency=2, queues=queue)
    wait_until(lambda: Job.objects.filter(stage=big, state=JobState.SUCCEEDED).count() >= 200, message="A running")

    submitted = time.monotonic()
    small = tenant_stage("tenant:b", 20, queue=queue, ref="fair-small")
    wait_until(lambda: finalised(small), timeout=30, message="B finalised")
    took = time.monotonic() - submitted

    left = Job.objects.filter(stage=big, state=JobState.QUEUED).count()
    assert left > 15_000, f"A's backlog was still large when B finished ({left} left)"
    assert finalised(big) is None
    print(f"B's 20 jobs: {took:.2f}s with {left} of A's jobs waiting")


def test_the_running_cap_holds_across_worker_processes(worker_factory, control_plane):
    queue = "tests-fair-cap"
    fairness.max_running_set(group_key="tenant:capped", max_running=2)
    worker_factory(concurrency=3, queues=queue)
    worker_factory(concurrency=3, queues=queue)  # both ready before any work exists

    samples: list[tuple[int, int]] = []  # (capped running, free running)
    errors: list[BaseException] = []
    done = threading.Event()

    def sample() -> None:
        try:
            while not done.is_set():
                running = Job.objects.filter(state=JobState.RUNNING)
                samples.append(
                    (running.filter(key__startswith="cap:").count(), running.filter(key__startswith="free:").count())
                )
                time.sleep(0.02)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        capped = tenant_stage("tenant:capped", 16, queue=queue, ref="cap", sleep=0.5)
        free = tenant_stage("tenant:free", 60, queue=queue, ref="free", sleep=0.1)
        wait_until(lambda: finalised(capped) and finalised(free), timeout=120, message="both tenants done")
    finally:
        done.set()
        sampler.join()
    assert errors == []
    assert len(samples) >= 20
    assert max(capped for capped, _ in samples) == 2, "the cap of 2 was exceeded (or never reached)"
    # The other worker processes served the free tenant while the capped one was at its cap.
    assert any(capped == 2 and free >= 1 for capped, free in samples)


def test_a_delayed_retry_runs_within_10s_of_being_due_while_10000_stale_rows_wait(worker_factory, control_plane):
    queue = "tests-fair-delayed"
    fairness.max_running_set(group_key="tenant:stale", max_running=0)  # due, but never claimable
    tenant_stage("tenant:stale", 10_000, queue=queue, ref="stale")
    worker_factory(concurrency=1, queues=queue)
    retried = tenant_stage("tenant:b", 1, queue=queue, ref="delayed", fail_until=2)
    first = wait_until(
        lambda: Job.objects.filter(stage=retried, state=JobState.QUEUED, attempts=1).first(),
        timeout=30,
        message="first attempt failed",
    )
    due = first.available_at.timestamp()
    done = wait_until(lambda: finalised(retried), timeout=30, message="retry ran")
    job = Job.objects.get(stage=retried)
    assert (done.succeeded, job.attempts) == (1, 2)
    assert job.started_at.timestamp() - due < 10
