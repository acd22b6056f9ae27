"""Cancelling a run: queued files never run and are refunded, completed files keep their output and
their charge, the run ends CANCELLED with one event, a duplicate cancel changes nothing."""

import pytest

from orchestration.models import Event, Job, JobState
from workflow_runs.models import FileStatus, RunStatus, WorkflowRun

from ..helpers import wait_until
from .factories import balance, entries, fund, make_template, upload
from .loopback import Answer

pytestmark = pytest.mark.django_db(transaction=True)


def test_cancel_a_running_run(worker_factory, settings, tenant, admin_client, member_client, loopback):
    settings.WORKFLOW_RUNS_QUEUE = "wr-cancel"  # one worker process: one file at a time
    worker_factory(concurrency=1, queues="wr-cancel")
    fund(tenant, monthly=100)
    template = make_template(tenant=tenant, processor="webhook", credits_per_run=2, config={"url": loopback.url})
    loopback.script = {"f0.txt": [Answer(200, delay=3)]}
    files = [upload(f"f{i}.txt", str(i)) for i in range(6)]
    response = admin_client.post(
        "/api/workflow-runs", {"template": str(template.pk), "files": files}, format="multipart"
    )
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    assert balance(tenant) == (88, 0)
    wait_until(lambda: loopback.started["f0.txt"] == 1, timeout=30, message="first file in progress")

    assert member_client.post(f"/api/workflow-runs/{run_id}/cancel").status_code == 403
    answer = admin_client.post(f"/api/workflow-runs/{run_id}/cancel")
    assert answer.status_code == 202, answer.content

    run = wait_until(
        lambda: WorkflowRun.objects.filter(pk=run_id, status=RunStatus.CANCELLED).first(),
        timeout=30,
        message="run cancelled",
    )
    statuses = list(run.files.order_by("index").values_list("status", flat=True))
    assert statuses[0] == FileStatus.COMPLETED  # it was running: it finished and keeps its output
    assert statuses[1:] == [FileStatus.CANCELLED] * 5
    assert sum(loopback.started[f"f{i}.txt"] for i in range(1, 6)) == 0, "a queued file ran after the cancel"
    assert Job.objects.filter(stage=run.stage, state=JobState.CANCELLED).count() == 5
    # The completed file's share is captured; the five that never ran are released (5 x 2 credits).
    assert (entries(tenant, "capture"), entries(tenant, "release")) == ([2], [10])
    assert balance(tenant) == (98, 0)
    assert run.cancelled_at is not None and run.cancelled_by_id is not None
    assert Event.objects.filter(stream=f"run:{run_id}", type="run_cancelled").count() == 1

    again = admin_client.post(f"/api/workflow-runs/{run_id}/cancel")
    assert again.status_code == 200 and again.json()["status"] == RunStatus.CANCELLED
    assert balance(tenant) == (98, 0)
    detail = admin_client.get(f"/api/workflow-runs/{run_id}").json()
    assert (detail["canContinue"], detail["continueBlockedReason"]) == (False, "run_cancelled")
    assert admin_client.post(f"/api/workflow-runs/{run_id}/retry-failed").status_code == 400


def test_a_finished_run_cannot_be_cancelled(celery_worker, tenant, admin_client):
    fund(tenant, monthly=10)
    template = make_template(tenant=tenant, credits_per_run=1)
    response = admin_client.post(
        "/api/workflow-runs", {"template": str(template.pk), "files": [upload("a.txt", "a")]}, format="multipart"
    )
    run_id = response.json()["id"]
    wait_until(lambda: WorkflowRun.objects.get(pk=run_id).status != RunStatus.RUNNING, message="run finished")
    answer = admin_client.post(f"/api/workflow-runs/{run_id}/cancel")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "run_not_running"


def test_cancel_stops_a_running_batch_between_files(worker_factory, settings, tenant, admin_client, loopback):
    settings.WORKFLOW_RUNS_QUEUE = "wr-cancel-batch"
    worker_factory(concurrency=1, queues="wr-cancel-batch")
    fund(tenant, monthly=100)
    template = make_template(tenant=tenant, processor="webhook", credits_per_run=1, config={"url": loopback.url})
    loopback.script = {f"b{i}.txt": [Answer(200, delay=0.3)] for i in range(30)}
    files = [upload(f"b{i}.txt", str(i)) for i in range(30)]
    response = admin_client.post(
        "/api/workflow-runs", {"template": str(template.pk), "files": files, "mode": "batch"}, format="multipart"
    )
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    wait_until(lambda: sum(loopback.hits.values()) >= 3, timeout=30, message="the batch is under way")

    assert admin_client.post(f"/api/workflow-runs/{run_id}/cancel").status_code == 202

    run = wait_until(
        lambda: WorkflowRun.objects.filter(pk=run_id, status=RunStatus.CANCELLED).first(),
        timeout=30,
        message="run cancelled",
    )
    statuses = list(run.files.order_by("index").values_list("status", flat=True))
    completed = statuses.count(FileStatus.COMPLETED)
    assert 3 <= completed < 20, f"the running batch did not stop soon after the cancel ({completed} completed)"
    assert statuses.count(FileStatus.CANCELLED) == 30 - completed
    assert sum(loopback.started.values()) <= completed + 1  # at most the file in flight at the stop
    assert balance(tenant) == (100 - completed, 0)  # the files that did not run were refunded
