"""Runs on real workers: start over uploads, per-file outcomes, the fan-in, and Continue end to end."""

import pytest

from orchestration import metrics
from orchestration.models import Event, Job
from workflow_runs.models import FileStatus, RunStatus, WorkflowRun

from ..helpers import wait_until
from .factories import assert_reconciled, balance, entries, file_statuses, fund, make_template, upload
from .loopback import Answer

pytestmark = pytest.mark.django_db(transaction=True)


def start(client, template, files, **fields):
    return client.post(
        "/api/workflow-runs", {"template": str(template.pk), "files": files, **fields}, format="multipart"
    )


def finished(run_id):
    run = WorkflowRun.objects.get(pk=run_id)
    return run if run.status != RunStatus.RUNNING else None


def event_types(run_id):
    return list(Event.objects.filter(stream=f"run:{run_id}").order_by("seq").values_list("type", flat=True))


def test_a_per_file_run_processes_every_file_and_finalises_once(celery_worker, admin_client, tenant):
    finished_before = metrics.value("relay_workflow_runs_finished_total", status="COMPLETED")
    fund(tenant, monthly=5, purchased=10)
    template = make_template(tenant=tenant, credits_per_run=3, config={"top_words": 1})

    response = start(
        admin_client,
        template,
        [upload("a.txt", "one two two"), upload("b.txt", "three\nfour"), upload("c.txt", "five")],
    )

    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    assert response.json()["creditsReserved"] == {"monthly": 5, "purchased": 4, "total": 9}
    assert response.json()["creditsConsumed"]["total"] == 0
    run = wait_until(lambda: finished(run_id), timeout=90, message="run finished")
    assert run.status == RunStatus.COMPLETED
    assert (run.total_jobs, run.completed_jobs, run.failed_jobs) == (3, 3, 0)
    body = admin_client.get(f"/api/workflow-runs/{run_id}").json()
    assert [f["status"] for f in body["files"]] == [FileStatus.COMPLETED] * 3
    assert body["files"][0]["output"]["words"] == 3
    assert body["files"][0]["output"]["top_words"] == [["two", 2]]
    assert body["files"][1]["output"]["lines"] == 2
    assert (body["canContinue"], body["continueBlockedReason"]) == (False, "run_completed")
    types = event_types(run_id)
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert types.count("run_finished") == 1
    progress = Event.objects.filter(stream=f"run:{run_id}", type="files_progress")
    changed = sorted((item["index"], item["status"]) for event in progress for item in event.payload["items"])
    assert changed == [(0, FileStatus.COMPLETED), (1, FileStatus.COMPLETED), (2, FileStatus.COMPLETED)]
    assert balance(tenant) == (0, 6)
    assert entries(tenant, "reserve") == [5, 4] and entries(tenant, "capture") == [5, 4]
    assert entries(tenant, "release") == []
    assert (body["creditsConsumed"]["total"], body["creditsReserved"]["total"]) == (9, 0)
    assert_reconciled()
    wait_until(
        lambda: metrics.value("relay_workflow_runs_finished_total", status="COMPLETED") == finished_before + 1,
        message="the finished-runs counter (incremented after commit)",
    )
    assert sorted(Job.objects.filter(stage=run.stage).values_list("key", flat=True)) == [
        f"run:{run_id}:file:{i}" for i in range(3)
    ]


def test_an_invalid_file_is_an_error_and_the_run_completes_with_errors(celery_worker, admin_client, tenant):
    fund(tenant, monthly=10)
    template = make_template(
        tenant=tenant, processor="json_validate", credits_per_run=1, config={"required_keys": ["id"]}
    )

    response = start(
        admin_client,
        template,
        [upload("ok.json", '{"id": 1}'), upload("bad.json", "{nope"), upload("bin.json", b"\xff\xfe\x00")],
    )

    run = wait_until(lambda: finished(response.json()["id"]), timeout=90, message="run finished")
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS
    assert file_statuses(run) == [FileStatus.COMPLETED, FileStatus.ERROR, FileStatus.ERROR]
    assert set(run.files.exclude(index=0).values_list("error_code", flat=True)) == {"invalid_file"}
    assert Job.objects.get(key=f"run:{run.pk}:file:1").attempts == 1  # fatal: never retried automatically
    body = admin_client.get(f"/api/workflow-runs/{run.pk}").json()
    assert body["continueBlockedReason"] == "nothing_to_retry"


def test_a_batch_run_is_one_job_over_every_file(celery_worker, admin_client, tenant):
    fund(tenant, monthly=10)
    template = make_template(tenant=tenant, processor="csv_validate", credits_per_run=1)

    response = start(
        admin_client,
        template,
        [upload("a.csv", "x,y\n1,2\n"), upload("b.csv", "x,y\n1\n"), upload("c.csv", "z\n3\n4\n")],
        mode="batch",
    )

    assert response.status_code == 201, response.content
    run = wait_until(lambda: finished(response.json()["id"]), timeout=90, message="run finished")
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS
    assert file_statuses(run) == [FileStatus.COMPLETED, FileStatus.ERROR, FileStatus.COMPLETED]
    assert list(Job.objects.filter(stage=run.stage).values_list("key", flat=True)) == [f"run:{run.pk}"]
    assert (run.total_jobs, run.completed_jobs) == (1, 1)
    assert run.files.get(index=2).output == {"valid": True, "columns": ["z"], "rows": 2}


def test_webhook_outcomes_429_then_ok_500_and_400(celery_worker, admin_client, tenant, loopback):
    fund(tenant, monthly=10)
    template = make_template(
        tenant=tenant,
        processor="webhook",
        credits_per_run=1,
        max_attempts=2,
        config={"url": loopback.url, "timeout_seconds": 5},
    )
    loopback.script = {"flaky.txt": [Answer(429), Answer(200)], "down.txt": [Answer(503)], "refused.txt": [Answer(400)]}

    response = start(
        admin_client, template, [upload("flaky.txt", "a"), upload("down.txt", "b"), upload("refused.txt", "c")]
    )

    run = wait_until(lambda: finished(response.json()["id"]), timeout=90, message="run finished")
    assert file_statuses(run) == [FileStatus.COMPLETED, FileStatus.FAILED, FileStatus.ERROR]
    files = {f.name: f for f in run.files.all()}
    assert files["flaky.txt"].output["status"] == 200 and files["flaky.txt"].output["body"]["file"] == "flaky.txt"
    assert (files["down.txt"].error_code, files["refused.txt"].error_code) == ("upstream_error", "rejected")
    assert loopback.started["down.txt"] == 2 and loopback.started["refused.txt"] == 1
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS


def test_continue_after_a_partial_failure_finalises_exactly_once_when_the_retried_files_end(
    celery_worker, admin_client, tenant, loopback
):
    """3 of 5 files fail; Continue retries those 3 only. The run must finish when they end (the
    reference's "reset counters, keep total = 5" would wait for 5 ends and never finish)."""
    fund(tenant, monthly=100)
    template = make_template(
        tenant=tenant, processor="webhook", credits_per_run=2, max_attempts=1, config={"url": loopback.url}
    )
    loopback.script = {name: [Answer(500), Answer(200)] for name in ("1.txt", "3.txt", "4.txt")}
    response = start(admin_client, template, [upload(f"{i}.txt", f"file {i}") for i in range(5)])
    run = wait_until(lambda: finished(response.json()["id"]), timeout=90, message="first round finished")
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS
    assert file_statuses(run).count(FileStatus.FAILED) == 3

    retried = admin_client.post(f"/api/workflow-runs/{run.pk}/retry-failed")

    assert retried.status_code == 200, retried.content
    assert retried.json()["creditsReservedByContinue"]["total"] == 6
    assert retried.json()["retriedFiles"] == [1, 3, 4]
    run = wait_until(lambda: finished(run.pk), timeout=90, message="retry round finished")
    assert run.status == RunStatus.COMPLETED
    assert file_statuses(run) == [FileStatus.COMPLETED] * 5
    assert (run.total_jobs, run.completed_jobs, run.failed_jobs) == (3, 3, 0)
    assert run.stage.round == 2
    assert event_types(run.pk).count("run_finished") == 2  # once per round
    # Round 1: 2 completed + 3 failed by their webhook (500) are the customer's: all 5 captured.
    assert entries(tenant, "reserve") == [10, 6] and entries(tenant, "capture") == [10, 6]
    assert_reconciled()
    assert all(loopback.hits[f"{i}.txt"] == 1 for i in range(5))  # every file succeeded exactly once
    assert admin_client.post(f"/api/workflow-runs/{run.pk}/retry-failed").status_code == 400


def test_continue_on_a_batch_run_resumes_the_unsettled_files(celery_worker, admin_client, tenant, loopback):
    fund(tenant, monthly=100)
    template = make_template(
        tenant=tenant, processor="webhook", credits_per_run=1, max_attempts=1, config={"url": loopback.url}
    )
    loopback.script = {"1.txt": [Answer(500), Answer(200)]}
    response = start(admin_client, template, [upload(f"{i}.txt", "x") for i in range(4)], mode="batch")
    run = wait_until(lambda: finished(response.json()["id"]), timeout=90, message="first round finished")
    # The batch stopped at file 1 (failed by their webhook: captured) and never reached 2 and 3
    # (pending: their reservation is held for Continue, which retries them free).
    assert file_statuses(run) == [FileStatus.COMPLETED, FileStatus.FAILED, FileStatus.PENDING, FileStatus.PENDING]

    retried = admin_client.post(f"/api/workflow-runs/{run.pk}/retry-failed")

    assert retried.status_code == 200, retried.content
    assert (retried.json()["reservedFiles"], retried.json()["creditsReservedByContinue"]["total"]) == (1, 1)
    run = wait_until(lambda: finished(run.pk), timeout=90, message="retry round finished")
    assert run.status == RunStatus.COMPLETED
    assert file_statuses(run) == [FileStatus.COMPLETED] * 4
    assert [loopback.hits[f"{i}.txt"] for i in range(4)] == [1, 1, 1, 1]
    assert entries(tenant, "reserve") == [4, 1]
    assert entries(tenant, "capture") == [2, 3]  # round 1: files 0 and 1; round 2: files 1, 2, 3
    assert entries(tenant, "release") == []
    assert_reconciled()
