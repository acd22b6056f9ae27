"""Concurrent retries are idempotent, and a worker killed mid-service does not lose the scan."""

import os
import signal
import threading

import pytest
from django.db import connection

from orchestration.models import Job, JobState
from orchestration.recovery import recover_expired_jobs
from scans.models import ScanStatus, ServiceExecution

from ..helpers import client_for, wait_until
from .scanning import retry, start_scan, wait_final

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("services", [["schema"], None])
def test_concurrent_retries_run_the_service_once_and_count_one_attempt(
    celery_worker, site, admin_client, tenant_admin, services
):
    site.fail_path["/good"] = 503
    scan = wait_final(admin_client, start_scan(admin_client, site.url("/good"), ["schema"])["id"])
    assert scan["services"]["schema"]["status"] == "failed"
    del site.fail_path["/good"]
    site.delay_path["/good"] = 1.0  # the retried run is still going while the other requests arrive
    clients = [client_for(tenant_admin) for _ in range(6)]
    barrier = threading.Barrier(len(clients))
    answers: list[tuple[int, str]] = []

    def request(client):
        try:
            barrier.wait(timeout=10)
            response = retry(client, scan["id"], services)
            answers.append((response.status_code, response.json().get("error", {}).get("code", "")))
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(answers) == len(clients)
    assert sum(1 for status, _ in answers if status == 202) == 1, answers
    late = {"NOT_FAILED", "NO_RETRYABLE_SERVICES"}  # a request that arrives after the retry finished
    assert all(code == "SCAN_RUNNING" or code in late for status, code in answers if status != 202), answers
    after = wait_final(admin_client, scan["id"])
    assert after["status"] == ScanStatus.COMPLETED
    assert after["services"]["schema"]["retry"]["attempts"] == 2
    assert site.path_hits("/good") == 2  # the first run and exactly one retry
    assert site.max_in_flight["page"] == 1  # never two runs at once
    assert Job.objects.filter(key=f"scan:{scan['id']}:schema").count() == 2


def running_service_job(key: str) -> Job | None:
    return Job.objects.filter(key=key, state=JobState.RUNNING).exclude(worker="").first()


def test_a_worker_killed_mid_service_is_recovered_and_the_scan_completes(worker_factory, site, admin_client):
    worker = worker_factory(concurrency=1, queues="jobs")
    site.delay_path["/good"] = 2.0
    scan = start_scan(admin_client, site.url("/good"), ["meta"])
    key = f"scan:{scan['id']}:meta"
    job = wait_until(lambda: running_service_job(key), timeout=60, message="meta running")
    wait_until(lambda: site.path_hits("/good") == 1, timeout=30, message="meta fetching the page")
    pid = int(job.worker.rsplit(":", 1)[1])

    os.kill(pid, signal.SIGKILL)  # the pool process dies mid-service; its lease stops being renewed

    wait_until(lambda: recover_expired_jobs() > 0, timeout=30, interval=0.5, message="lease expired")
    after = wait_final(admin_client, scan["id"], timeout=90)
    assert after["status"] == ScanStatus.COMPLETED
    meta = after["services"]["meta"]
    assert meta["status"] == "success"
    # The lost run was the engine's business: the person still has their retry.
    assert meta["retry"]["attempts"] == 1
    job.refresh_from_db()
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 2)
    # The dead fetch's claim expired and the re-run took it over: one more request, not a wait forever.
    assert site.path_hits("/good") == 2
    assert worker.process.poll() is None, "the worker's main process replaced its pool process"


# Not committed: with real commits, the session's live worker would pick up the scan's messages and
# claim the job between the simulated claims below.
@pytest.mark.django_db(transaction=False)
def test_a_service_lost_twice_ends_failed_and_retryable(tenant, tenant_admin):
    from orchestration.runner import job_claim
    from scans import services

    scan = services.scan_create(tenant=tenant, actor=tenant_admin, url="http://127.0.0.1:9/", services=["meta"])
    job = Job.objects.get(key=f"scan:{scan.pk}:meta")
    for _ in range(2):  # two claims whose workers vanish
        Job.objects.filter(pk=job.pk).update(state=JobState.QUEUED)
        claimed = job_claim(job.pk)
        assert claimed is not None
        Job.objects.filter(pk=job.pk).update(lease_expires_at="2000-01-01T00:00:00Z")
        recover_expired_jobs()

    execution = ServiceExecution.objects.get(scan=scan, service="meta")
    assert (execution.status, execution.error_code, execution.error_retryable) == ("failed", "worker_lost", True)
    assert execution.can_retry(scan.max_attempts)
    scan.refresh_from_db()
    assert scan.status == ScanStatus.FAILED
