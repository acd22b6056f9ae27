"""PostgreSQL restarted, or every worker connection killed, in the middle of a running stage: every
process recovers by itself and the stage finishes, each job run once, within 60 s."""

import time
from pathlib import Path

import pytest
from django.db import connection

from devstack import postgres
from devstack.workers import start_control_plane
from orchestration import diagnostics
from orchestration.models import Job, JobState

from ..helpers import wait_until
from .engine import finalised, probe, start_stage

pytestmark = pytest.mark.django_db(transaction=True)

N = 300


@pytest.fixture
def running_stage(worker_factory, request):
    queue = f"tests-db-{request.node.name.split('_')[1]}"  # postgresql / every: one per test
    lane = start_control_plane(env={"RELAY_RECOVER_INTERVAL_SECONDS": "1"})
    worker_factory(concurrency=2, queues=queue)
    stage = start_stage([probe(f"{queue}:{i}", queue=queue, sleep=0.05) for i in range(N)], ref=queue)
    wait_until(lambda: Job.objects.filter(stage=stage, state=JobState.SUCCEEDED).count() >= 40, message="stage running")
    yield stage, queue
    lane.stop()


def assert_finishes_each_job_once(stage, queue: str, *, since: float) -> None:
    def done():
        try:
            return finalised(stage)
        except Exception:  # this test process's own connection may need a new one too
            connection.close()
            return None

    finished = wait_until(done, timeout=60, interval=0.5, message="stage finished after the outage")
    print(f"finished {time.monotonic() - since:.1f}s after the database was back")
    assert finished.succeeded == N
    runs = [diagnostics.probe_runs(f"{queue}:{i}") for i in range(N)]
    assert runs == [1] * N, f"jobs run more than once: {[i for i, r in enumerate(runs) if r != 1]}"


def test_postgresql_restarted_in_the_middle_of_a_stage(running_stage):
    stage, queue = running_stage
    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        (data_dir,) = cursor.fetchone()
    connection.close()
    postgres.restart(Path(data_dir))
    assert_finishes_each_job_once(stage, queue, since=time.monotonic())


def test_every_worker_connection_terminated_in_the_middle_of_a_stage(running_stage):
    stage, queue = running_stage
    for _ in range(5):  # a storm: whatever reconnects is cut again
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        time.sleep(0.3)
    assert_finishes_each_job_once(stage, queue, since=time.monotonic())
