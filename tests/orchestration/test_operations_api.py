"""Health and metrics, as an operator sees them."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString
from rest_framework.test import APIClient

from orchestration import diagnostics, dispatch, job_actions, job_gauges, metrics, recovery, runner, stages
from orchestration.metric_catalog import COUNTERS, HISTOGRAMS
from orchestration.models import Job, JobState

from ..helpers import client_for, wait_until
from .engine import PRIVATE_QUEUE, finalised, probe, start_stage

pytestmark = pytest.mark.django_db(transaction=True)

PROBE = diagnostics.JOB_KIND


def scrape() -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """`/metrics`, parsed by prometheus_client's own parser: sample name → {sorted labels: value}."""
    response = APIClient().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


def test_health_reports_database_redis_and_workers(celery_worker):
    response = wait_until(lambda: (r := APIClient().get("/api/health")).status_code == 200 and r, message="healthy")
    body = response.json()
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["workers"]["processes"] >= 1


def test_metrics_are_shared_counters_in_prometheus_text_and_json(celery_worker, platform_admin, tenant_admin):
    before = metrics.value("relay_jobs_ended_total", kind=PROBE, state="succeeded")
    stage = start_stage([probe(f"metrics:{i}") for i in range(3)], ref="metrics")
    wait_until(lambda: finalised(stage), message="stage finalised")

    series = 'relay_jobs_ended_total{kind="diagnostic.probe",state="succeeded"}'
    wait_until(
        lambda: metrics.value("relay_jobs_ended_total", kind=PROBE, state="succeeded") == before + 3,
        message="counter incremented by the worker",
    )
    text = APIClient().get("/metrics").content.decode()
    assert "# TYPE relay_jobs_ended_total counter" in text
    assert scrape()["relay_jobs_ended_total"][labels(kind=PROBE, state="succeeded")] == before + 3
    body = client_for(platform_admin).get("/api/metrics").json()
    assert body["counters"][series] == before + 3
    assert body["jobs"]["capped"] is False
    assert client_for(tenant_admin).get("/api/metrics").status_code == 403


def test_counters_from_two_processes_add_up(celery_worker):
    """Two jobs end on the worker, two in this process: the one shared counter has all four."""
    before = metrics.value("relay_jobs_ended_total", kind=PROBE, state="succeeded")
    stage = start_stage(
        [
            probe("two:worker:0"),
            probe("two:worker:1"),
            *(probe(f"two:here:{i}", queue=PRIVATE_QUEUE) for i in range(2)),
        ],
        ref="two-processes",
    )
    for job in Job.objects.filter(stage=stage, queue=PRIVATE_QUEUE):
        assert runner.job_execute(job.pk) == JobState.SUCCEEDED
    wait_until(lambda: finalised(stage), message="stage finalised")

    workers = dict(Job.objects.filter(stage=stage).values_list("key", "worker"))
    assert workers["two:here:0"] == workers["two:here:1"]
    assert {workers["two:worker:0"], workers["two:worker:1"]}.isdisjoint({workers["two:here:0"]})
    wait_until(
        lambda: metrics.value("relay_jobs_ended_total", kind=PROBE, state="succeeded") == before + 4,
        message="the worker's and this process's ends counted in one series",
    )
    assert scrape()["relay_jobs_ended_total"][labels(kind=PROBE, state="succeeded")] == before + 4


def test_claim_latency_and_job_duration_are_observed(celery_worker, platform_admin):
    claims_before = metrics.observations("relay_job_claim_latency_seconds", kind=PROBE, queue="jobs")
    runs_before = metrics.observations("relay_job_duration_seconds", kind=PROBE, queue="jobs", state="succeeded")
    stage = start_stage([probe(f"histograms:{i}", sleep=0.2) for i in range(3)], ref="histograms")
    wait_until(lambda: finalised(stage), message="stage finalised")

    wait_until(
        lambda: (
            metrics.observations("relay_job_duration_seconds", kind=PROBE, queue="jobs", state="succeeded")[0]
            == runs_before[0] + 3
        ),
        message="three runs observed",
    )
    claims = metrics.observations("relay_job_claim_latency_seconds", kind=PROBE, queue="jobs")
    runs = metrics.observations("relay_job_duration_seconds", kind=PROBE, queue="jobs", state="succeeded")
    assert claims[0] == claims_before[0] + 3
    assert runs[1] - runs_before[1] >= 3 * 0.2, "each run slept 0.2 s"

    samples = scrape()
    duration = labels(kind=PROBE, queue="jobs", state="succeeded")
    assert samples["relay_job_duration_seconds_count"][duration] == runs[0]
    assert samples["relay_job_duration_seconds_sum"][duration] == pytest.approx(runs[1])
    buckets = {
        dict(key)["le"]: count
        for key, count in samples["relay_job_duration_seconds_bucket"].items()
        if dict(key).items() >= dict(duration).items()
    }
    assert list(buckets) == [floatToGoString(bound) for bound in HISTOGRAMS["relay_job_duration_seconds"].buckets]
    assert buckets["+Inf"] == runs[0]
    assert buckets["0.1"] <= runs[0] - 3, "a run that slept 0.2 s is not in the 0.1 s bucket"
    assert list(buckets.values()) == sorted(buckets.values()), "buckets are cumulative"
    assert samples["relay_job_claim_latency_seconds_count"][labels(kind=PROBE, queue="jobs")] == claims[0]

    body = client_for(platform_admin).get("/api/metrics").json()
    series = 'relay_job_duration_seconds{kind="diagnostic.probe",queue="jobs",state="succeeded"}'
    assert body["histograms"][series]["count"] == runs[0]


def tenant_stage(group: str, count: int) -> list[Job]:
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref=f"gauges-{group}", fairness_key=group)
        stages.stage_start_round(
            stage=stage, jobs=[probe(f"gauges:{group}:{i}", queue=PRIVATE_QUEUE) for i in range(count)]
        )
    return list(Job.objects.filter(stage=stage).order_by("id"))


def test_job_gauges_count_queued_and_running_jobs_per_queue_and_tenant(platform_admin):
    a_jobs = tenant_stage("tenant:a", 3)
    b_jobs = tenant_stage("tenant:b", 2)
    assert runner.job_claim(a_jobs[0].pk) is not None  # running (held by this process, never run)
    Job.objects.filter(pk=a_jobs[1].pk).update(available_at=timezone.now() - timedelta(seconds=60))
    Job.objects.filter(pk=b_jobs[0].pk).update(available_at=timezone.now() + timedelta(hours=1))  # a retry's delay
    job_gauges.cache.clear()

    samples = scrape()
    queue = samples["relay_queue_jobs"]
    assert queue[labels(queue=PRIVATE_QUEUE, state="due")] == 3
    assert queue[labels(queue=PRIVATE_QUEUE, state="delayed")] == 1
    assert queue[labels(queue=PRIVATE_QUEUE, state="running")] == 1
    group = samples["relay_group_jobs"]
    expected = {("tenant:a", "due"): 2, ("tenant:a", "delayed"): 0, ("tenant:a", "running"): 1}
    expected |= {("tenant:b", "due"): 1, ("tenant:b", "delayed"): 1, ("tenant:b", "running"): 0}
    for (group_key, state), count in expected.items():
        assert group[labels(group_key=group_key, queue=PRIVATE_QUEUE, state=state)] == count, (group_key, state)
    oldest = samples["relay_queue_oldest_due_age_seconds"][labels(queue=PRIVATE_QUEUE)]
    assert 60 <= oldest < 120
    assert samples["relay_metrics_source_up"][labels(source="postgresql")] == 1

    body = client_for(platform_admin).get("/api/metrics").json()
    assert body["jobs"]["perQueue"][PRIVATE_QUEUE] == {"due": 3, "delayed": 1, "running": 1, "quarantined": 0}


def test_job_gauges_count_quarantined_jobs_apart_from_due_ones(platform_admin):
    """A quarantined job is never claimed, yet its round waits for it: the gauges show it, as its own
    state, and no longer as due (the oldest-due age ignores it too)."""
    jobs = tenant_stage("tenant:q", 3)
    Job.objects.filter(pk=jobs[0].pk).update(available_at=timezone.now() - timedelta(hours=1))
    job_actions.job_quarantine(job_id=jobs[0].pk, actor="test")
    job_actions.job_quarantine(job_id=jobs[1].pk, actor="test")
    job_gauges.cache.clear()

    samples = scrape()
    queue = samples["relay_queue_jobs"]
    assert queue[labels(queue=PRIVATE_QUEUE, state="quarantined")] == 2
    assert queue[labels(queue=PRIVATE_QUEUE, state="due")] == 1
    group = samples["relay_group_jobs"]
    assert group[labels(group_key="tenant:q", queue=PRIVATE_QUEUE, state="quarantined")] == 2
    assert group[labels(group_key="tenant:q", queue=PRIVATE_QUEUE, state="due")] == 1
    assert samples["relay_queue_oldest_due_age_seconds"][labels(queue=PRIVATE_QUEUE)] < 600, (
        "the hour-old one is set aside"
    )

    body = client_for(platform_admin).get("/api/metrics").json()
    assert body["jobs"]["perQueue"][PRIVATE_QUEUE] == {"due": 1, "delayed": 0, "running": 0, "quarantined": 2}
    assert {"queue": PRIVATE_QUEUE, "groupKey": "tenant:q", "due": 1, "delayed": 0, "running": 0, "quarantined": 2} in (
        body["jobs"]["perGroup"]
    )

    job_actions.job_requeue(job_id=jobs[1].pk, actor="test")
    job_gauges.cache.clear()
    assert scrape()["relay_queue_jobs"][labels(queue=PRIVATE_QUEUE, state="quarantined")] == 1


def test_job_gauges_ask_postgresql_at_most_once_per_cache_period(db, monkeypatch):
    monkeypatch.setattr(job_gauges, "CACHE_SECONDS", 3600.0)  # one period, however slow the machine
    job_gauges.cache.clear()
    job_gauges.job_counts()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            scrape()
    assert not [query for query in queries.captured_queries if "orchestration_job" in query["sql"]]
    job_gauges.cache.taken_at -= 3600.0  # the period is over
    with CaptureQueriesContext(connection) as queries:
        scrape()
    assert len([query for query in queries.captured_queries if "orchestration_job" in query["sql"]]) == 1


def test_reconciler_and_sweeper_runs_and_failures_are_counted(celery_worker, monkeypatch):
    reconciles = metrics.value("relay_reconcile_runs_total")
    wait_until(lambda: metrics.value("relay_reconcile_runs_total") > reconciles, message="the control lane reconciles")
    sweeps = metrics.value("relay_sweep_runs_total")
    recovery.recover_expired_jobs()
    assert metrics.value("relay_sweep_runs_total") == sweeps + 1

    failures = metrics.value("relay_reconcile_failures_total")

    def database_away() -> dict[str, int]:
        raise RuntimeError("the database is away")

    monkeypatch.setattr(dispatch, "due_counts", database_away)
    with pytest.raises(RuntimeError):
        dispatch.reconcile()
    assert metrics.value("relay_reconcile_failures_total") == failures + 1

    samples = scrape()
    assert samples["relay_reconcile_failures_total"][()] == failures + 1
    assert samples["relay_sweep_runs_total"][()] == sweeps + 1
    text = APIClient().get("/metrics").content.decode()
    for name in COUNTERS:  # every engine counter is exposed, from the first scrape on
        assert f"# TYPE {name} counter" in text, name


def test_label_values_survive_the_round_trip(db):
    odd = 'a "quoted" back\\slash\nnewline'
    before = metrics.value("relay_test_odd_labels_total", value=odd)
    metrics.incr("relay_test_odd_labels_total", value=odd)
    assert metrics.value("relay_test_odd_labels_total", value=odd) == before + 1
    assert scrape()["relay_test_odd_labels_total"][labels(value=odd)] == before + 1


def test_a_forked_child_does_not_add_its_parents_buffered_counts_again(db):
    """A prefork pool child starts with a copy of the parent's unflushed increments (and perhaps of a
    lock held at the fork): it must add only its own."""
    before = metrics.value("relay_test_fork_total")
    buffer = metrics._buffer
    with buffer.lock:  # hold the flusher off: the 5 are still buffered when the child is forked
        buffer.counts[(metrics.METRICS_KEY, "relay_test_fork_total")] = 5
        pid = os.fork()
        if pid == 0:  # the child: one increment of its own
            try:
                metrics.incr("relay_test_fork_total")
                buffer.flush()
            finally:
                os._exit(0)
    deadline = time.monotonic() + 20
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            raise AssertionError("the child hung on the lock it inherited")
        time.sleep(0.05)
    assert metrics.value("relay_test_fork_total") == before + 6


def test_a_source_that_cannot_be_read_leaves_the_scrape_valid(db, monkeypatch):
    def away() -> None:
        raise ConnectionError("away")

    monkeypatch.setattr(metrics, "snapshot", away)
    monkeypatch.setattr(job_gauges, "job_counts_query", away)
    job_gauges.cache.clear()
    samples = scrape()
    assert samples["relay_metrics_source_up"] == {labels(source="redis"): 0, labels(source="postgresql"): 0}
    assert "relay_queue_jobs" not in samples and "relay_jobs_ended_total" not in samples
