"""With 20,000 other jobs waiting on the same queue, a job whose doorbell was lost still runs exactly
once within 30 s: PostgreSQL is the queue, and the reconciler rings again by counts.

Each test keeps tenant A's backlog of 20,000 slow jobs draining on two worker processes (it lasts
minutes), then tenant B submits one job while its doorbell is lost in one of five ways."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import psutil
import pytest
from django.db import connection, transaction

from devstack.ports import wait_for_port
from devstack.redis import _redis_server as redis_server
from devstack.workers import ROOT
from orchestration import diagnostics, dispatch, stages
from orchestration.models import Job, JobState, Stage
from orchestration.redis_client import get_redis

from ..helpers import wait_until
from .engine import probe

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "tests-backlog"
BACKLOG = 20_000


@pytest.fixture
def backlog(worker_factory, control_plane) -> Iterator[Stage]:
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref="backlog", fairness_key="tenant:a")
        stages.stage_start_round(
            stage=stage,
            jobs=[probe(f"backlog:{i}", queue=QUEUE, noop=True, sleep=0.05) for i in range(BACKLOG)],
        )
    worker_factory(concurrency=2, queues=QUEUE, env={"RELAY_DRAIN_SLICE_SECONDS": "3"})
    wait_until(lambda: Job.objects.filter(stage=stage, state=JobState.SUCCEEDED).exists(), message="backlog moving")
    yield stage


def small_stage(key: str, *, noop: bool = False) -> Stage:
    """B's one job. `noop`: it does not count itself in Redis (where Redis is what the test breaks)."""
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref=key, fairness_key="tenant:b")
        stages.stage_start_round(stage=stage, jobs=[probe(key, queue=QUEUE, noop=noop)])
    return stage


def assert_ran_once_within_30s(key: str, backlog: Stage) -> None:
    started = time.monotonic()
    job = wait_until(
        lambda: Job.objects.filter(key=key, state=JobState.SUCCEEDED).first(), timeout=30, message=f"{key} ran"
    )
    assert job.attempts == 1, "claimed once"
    assert Job.objects.filter(stage=backlog, state=JobState.QUEUED).count() > BACKLOG // 2, "the backlog is still there"
    print(f"{key}: ran {time.monotonic() - started:.1f}s after the fault")
    # Past one drain slice (3 s here) the backlog still moves: drains rang again through the broker as
    # it is now, or the reconciler did.
    done = Job.objects.filter(stage=backlog, state=JobState.SUCCEEDED).count()
    time.sleep(5)
    assert Job.objects.filter(stage=backlog, state=JobState.SUCCEEDED).count() > done + 50, "the backlog stalled"


def test_broker_down_at_commit(backlog, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("Error 111 connecting to the broker")

    with monkeypatch.context() as patch:
        patch.setattr(dispatch.current_app, "producer_or_acquire", broker_down)
        small_stage("lost:broker-down")
    assert_ran_once_within_30s("lost:broker-down", backlog)
    assert diagnostics.probe_runs("lost:broker-down") == 1


def test_publishing_process_killed_right_after_commit(backlog):
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.orchestration.crash_after_commit", "lost:killed", QUEUE, "tenant:b"],
        cwd=ROOT,
        env={**os.environ, "RELAY_DATABASE_NAME": str(connection.settings_dict["NAME"])},
        capture_output=True,
        timeout=120,
    )
    assert crashed.returncode == 137, crashed.stderr.decode()[-2000:]
    assert Job.objects.get(key="lost:killed").state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED)
    assert_ran_once_within_30s("lost:killed", backlog)


def test_redis_flushall(backlog, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(dispatch, "ring", lambda queue, wanted: 0)  # its bells would be flushed anyway
        small_stage("lost:flushall", noop=True)
    get_redis().flushall()  # every doorbell, every heartbeat, every broker binding: gone
    assert_ran_once_within_30s("lost:flushall", backlog)


def test_redis_restarted_without_its_data(backlog, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(dispatch, "ring", lambda queue, wanted: 0)
        small_stage("lost:redis-restart", noop=True)
    restart_redis_without_data()
    assert_ran_once_within_30s("lost:redis-restart", backlog)


def test_a_database_error_during_the_claim(backlog):
    with connection.cursor() as cursor:
        # Every claim reads this table: while it is away, every claim fails with a database error.
        cursor.execute("ALTER TABLE orchestration_fairshare RENAME TO orchestration_fairshare_away")
    try:
        small_stage("lost:claim-error")
        wait_until(lambda: claim_failures_logged(), timeout=20, message="claims failing")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE orchestration_fairshare_away RENAME TO orchestration_fairshare")
    assert_ran_once_within_30s("lost:claim-error", backlog)


def claim_failures_logged() -> bool:
    from devstack.workers import LOG_DIR

    return any("engine.claim_failed" in path.read_text(errors="replace") for path in LOG_DIR.glob("test-*.log"))


_restarted: list[subprocess.Popen[bytes]] = []


def restart_redis_without_data() -> None:
    """SIGKILL the suite's Redis and start it again on the same port with an empty data set."""
    port = urlparse(os.environ["REDIS_URL"]).port
    server = next(
        psutil.Process(conn.pid)
        for conn in psutil.net_connections(kind="tcp")
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid
    )
    server.kill()  # a child of the devstack process, which reaps it only at the end: wait for the port
    wait_until(lambda: not port_open(port), timeout=10, message="Redis gone")
    args = [redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    _restarted.append(
        subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    )
    wait_for_port(port)


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module", autouse=True)
def _stop_restarted_redis() -> Iterator[None]:
    yield
    # The restarted server stays for the rest of the suite; the devstack stops the original one only.
    import atexit

    for process in _restarted:
        atexit.register(process.kill)
