"""Races and crashes: simultaneous Continue clicks, simultaneous runs, a crash between the reservation
and the publish, and a worker SIGKILLed mid-file."""

import os
import signal
import subprocess
import sys
import threading

import pytest
from django.db import close_old_connections, connection

from devstack.workers import ROOT
from orchestration.models import Event, Job, JobState
from orchestration.recovery import recover_expired_jobs
from workflow_runs.models import CreditAccount, CreditLedgerEntry, FileStatus, RunStatus, WorkflowRun

from ..helpers import client_for, wait_until
from .factories import (
    assert_reconciled,
    balance,
    entries,
    file_statuses,
    fund,
    make_template,
    run_in_state,
    upload,
)
from .loopback import Answer

pytestmark = pytest.mark.django_db(transaction=True)

F, C = FileStatus.FAILED, FileStatus.COMPLETED


def finished(run_id):
    run = WorkflowRun.objects.get(pk=run_id)
    return run if run.status != RunStatus.RUNNING else None


def in_threads(count, call):
    """Run `call(i)` in `count` threads released together; each thread uses (and closes) its own connection."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def work(i):
        try:
            barrier.wait(timeout=30)
            results[i] = call(i)
        except Exception as exc:  # reported as a result, asserted on below
            results[i] = exc
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_fifty_simultaneous_continue_clicks_are_accepted_once(worker_factory, settings, tenant, tenant_admin):
    # No worker takes these jobs until the clicks are settled: the run stays RUNNING while they race
    # (otherwise a fast worker finishes the retry and late clicks see COMPLETED, a 400, not a 409).
    settings.WORKFLOW_RUNS_QUEUE = "wr-fifty"
    fund(tenant, monthly=100)
    template = make_template(tenant=tenant, credits_per_run=5)
    run = run_in_state(tenant=tenant, template=template, files=[(C, 0), (F, 0), (F, 0), (F, 1)])
    clients = [client_for(tenant_admin) for _ in range(50)]

    results = in_threads(50, lambda i: clients[i].post(f"/api/workflow-runs/{run.pk}/retry-failed").status_code)
    worker_factory(concurrency=1, queues="wr-fifty")

    assert sorted(results, key=str).count(200) == 1, results
    assert results.count(409) == 49, results
    assert entries(tenant, "reserve") == [15]
    assert Job.objects.filter(stage=run.stage).count() == 3
    assert Event.objects.filter(stream=run.stream, type="retry_started").count() == 1
    done = wait_until(lambda: finished(run.pk), timeout=90, message="retry finished")
    assert done.status == RunStatus.COMPLETED
    assert Event.objects.filter(stream=run.stream, type="run_finished").count() == 1
    assert balance(tenant) == (85, 0)
    assert entries(tenant, "capture") == [15] and entries(tenant, "release") == []
    assert_reconciled()


def test_two_runs_that_do_not_fit_together_one_starts_one_gets_402(tenant, tenant_admin):
    fund(tenant, monthly=2, purchased=2)  # each run costs 3: one fits, two do not
    template = make_template(tenant=tenant, credits_per_run=1)
    clients = [client_for(tenant_admin) for _ in range(2)]

    def start(i):
        files = [upload(f"{i}-{n}.txt", "words here") for n in range(3)]
        return (
            clients[i]
            .post("/api/workflow-runs", {"template": str(template.pk), "files": files}, format="multipart")
            .status_code
        )

    results = in_threads(2, start)

    assert sorted(results) == [201, 402], results
    assert WorkflowRun.objects.filter(tenant=tenant).count() == 1
    assert balance(tenant) == (0, 1)
    # The 3 credits are the one run's: still held, or already charged when the session's worker (alive
    # from earlier tests) ran its files meanwhile, as it did once under a loaded machine.
    account = CreditAccount.objects.get(pk=tenant.pk)
    assert account.reserved_balance + account.captured_balance == 3
    assert sorted(
        CreditLedgerEntry.objects.filter(tenant=tenant, reason="reserve").values_list("source", "amount")
    ) == [
        ("monthly", 2),
        ("purchased", 1),
    ]
    assert_reconciled()


def test_a_crash_after_the_charge_commits_loses_no_job_and_runs_each_once(
    celery_worker, tenant, tenant_admin, loopback
):
    fund(tenant, monthly=100)
    template = make_template(tenant=tenant, processor="webhook", credits_per_run=4, config={"url": loopback.url})
    run = run_in_state(tenant=tenant, template=template, files=[(C, 0), (F, 0), (F, 0)])

    crashed = subprocess.run(
        [sys.executable, "-m", "tests.workflow_runs.crash_after_commit", str(run.pk), str(tenant_admin.pk)],
        cwd=ROOT,
        env={**os.environ, "RELAY_DATABASE_NAME": str(connection.settings_dict["NAME"])},
        capture_output=True,
        timeout=120,
    )

    assert crashed.returncode == 137, crashed.stderr.decode()[-2000:]
    assert entries(tenant, "reserve") == [8]  # the reservation committed...
    jobs = Job.objects.filter(stage__workflow_run=run, round=2)
    assert sorted(jobs.values_list("key", "state")) == [
        (f"run:{run.pk}:file:1", JobState.QUEUED),
        (f"run:{run.pk}:file:2", JobState.QUEUED),
    ]
    # ...and no doorbell was rung: the control lane's reconciler sees due jobs that no drain looks at
    # and rings for them.
    done = wait_until(lambda: finished(run.pk), timeout=90, message="run finished")
    assert done.status == RunStatus.COMPLETED
    assert file_statuses(done) == [C, C, C]
    assert (loopback.hits["f1.txt"], loopback.hits["f2.txt"]) == (1, 1)
    assert set(jobs.values_list("attempts", flat=True)) == {1}
    assert entries(tenant, "reserve") == [8] and entries(tenant, "capture") == [8]
    assert_reconciled()


def test_a_worker_killed_mid_file_loses_no_file_and_captures_nothing_twice(
    worker_factory, settings, tenant, tenant_admin, loopback
):
    settings.WORKFLOW_RUNS_QUEUE = "wr-kill"  # only the worker started here takes these jobs
    worker = worker_factory(concurrency=1, queues="wr-kill")
    fund(tenant, monthly=100)
    template = make_template(
        tenant=tenant, processor="webhook", credits_per_run=1, max_attempts=3, config={"url": loopback.url}
    )
    loopback.script = {"slow.txt": [Answer(200, delay=8), Answer(200)]}
    files = [upload("a.txt", "a"), upload("slow.txt", "s"), upload("b.txt", "b")]
    response = client_for(tenant_admin).post(
        "/api/workflow-runs", {"template": str(template.pk), "files": files}, format="multipart"
    )
    assert response.status_code == 201
    run_id = response.json()["id"]
    key = f"run:{run_id}:file:1"
    job = wait_until(
        lambda: (
            Job.objects.filter(key=key, state=JobState.RUNNING).exclude(worker="").first()
            if loopback.started["slow.txt"]
            else None
        ),
        timeout=60,
        message="slow file in progress",
    )
    pid = int(job.worker.rsplit(":", 1)[1])

    os.kill(pid, signal.SIGKILL)  # the pool process dies in the middle of the file

    wait_until(lambda: recover_expired_jobs() > 0, timeout=30, interval=0.5, message="lease expired")
    done = wait_until(lambda: finished(run_id), timeout=90, message="run finished")
    assert done.status == RunStatus.COMPLETED
    assert file_statuses(done) == [C, C, C]
    job.refresh_from_db()
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 2)  # the killed attempt and the recovered one
    assert loopback.started["slow.txt"] == 2
    progress = Event.objects.filter(stream=f"run:{run_id}", type="files_progress")
    completed = [item["index"] for e in progress for item in e.payload["items"] if item["status"] == C]
    assert sorted(completed) == [0, 1, 2]  # each file completed once
    # The round settled in the finaliser's transaction: once, although one file's job ran twice.
    assert entries(tenant, "reserve") == [3] and entries(tenant, "capture") == [3]
    assert_reconciled()
    assert worker.process.poll() is None
