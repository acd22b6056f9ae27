"""Pay for what ran, on real workers: platform faults cost nothing (reserve + release in the ledger),
the customer's outcomes are captured, a batch stopped by a fatal job error captures nothing for the
files it never processed."""

import pytest
from django.core.files.storage import default_storage

from orchestration.models import Event
from workflow_runs.models import FileStatus, RunStatus, Template, WorkflowRun

from ..helpers import wait_until
from .factories import assert_reconciled, balance, captured, entries, fund, reserved, set_price, upload
from .loopback import Answer

pytestmark = pytest.mark.django_db(transaction=True)


def start(client, template, files, **fields):
    return client.post(
        "/api/workflow-runs", {"template": str(template.pk), "files": files, **fields}, format="multipart"
    )


def finished(run_id):
    run = WorkflowRun.objects.get(pk=run_id)
    return run if run.status != RunStatus.RUNNING else None


def missing_processor_template(tenant):
    """A template whose processor is priced but not installed on the workers: every file is our fault."""
    set_price("retired_processor", 4)
    return Template.objects.create(tenant=tenant, name="Retired", processor="retired_processor")


@pytest.mark.parametrize("mode", ["per_file", "batch"])
def test_a_run_whose_files_all_end_with_platform_faults_costs_nothing(celery_worker, admin_client, tenant, mode):
    fund(tenant, monthly=20)
    template = missing_processor_template(tenant)

    response = start(admin_client, template, [upload(f"{i}.txt", "x") for i in range(3)], mode=mode)

    assert response.status_code == 201, response.content
    run = wait_until(lambda: finished(response.json()["id"]), timeout=90, message="run finished")
    assert run.status == RunStatus.FAILED
    assert set(run.files.values_list("status", "error_code")) == {(FileStatus.ERROR, "unknown_processor")}
    assert entries(tenant, "reserve") == [12] and entries(tenant, "release") == [12]
    assert entries(tenant, "capture") == []
    assert (balance(tenant), reserved(tenant), captured(tenant)) == ((20, 0), 0, 0)
    body = admin_client.get(f"/api/workflow-runs/{run.pk}").json()
    assert (body["creditsConsumed"]["total"], body["creditsReserved"]["total"]) == (0, 0)
    assert_reconciled()


def test_customer_outcomes_are_captured_and_a_lost_file_is_released(
    worker_factory, settings, admin_client, tenant, loopback
):
    settings.WORKFLOW_RUNS_QUEUE = "wr-billing"  # no worker takes the jobs until the file is gone
    fund(tenant, monthly=100)
    set_price("webhook", 5)
    template = Template.objects.create(
        tenant=tenant, name="Hook", processor="webhook", processor_config={"url": loopback.url}, max_attempts=1
    )
    loopback.script = {"refused.txt": [Answer(400)], "down.txt": [Answer(503)]}
    files = [upload("ok.txt", "a"), upload("refused.txt", "b"), upload("down.txt", "c"), upload("lost.txt", "d")]
    response = start(admin_client, template, files)
    assert response.status_code == 201, response.content
    run = WorkflowRun.objects.get(pk=response.json()["id"])
    default_storage.delete(run.files.get(index=3).file.name)  # our storage lost it

    worker_factory(concurrency=1, queues="wr-billing")
    run = wait_until(lambda: finished(run.pk), timeout=90, message="run finished")

    assert list(run.files.order_by("index").values_list("status", "error_code")) == [
        (FileStatus.COMPLETED, ""),
        (FileStatus.ERROR, "rejected"),
        (FileStatus.FAILED, "upstream_error"),
        (FileStatus.ERROR, "file_missing"),
    ]
    assert entries(tenant, "reserve") == [20]
    assert entries(tenant, "capture") == [15] and entries(tenant, "release") == [5]
    assert balance(tenant) == (85, 0) and reserved(tenant) == 0
    finished_event = Event.objects.get(stream=run.stream, type="run_finished")
    assert (finished_event.payload["creditsCaptured"], finished_event.payload["creditsReleased"]) == (15, 5)
    assert_reconciled()


def test_a_batch_stopped_by_its_jobs_failure_captures_nothing_for_the_files_it_never_processed(
    worker_factory, settings, admin_client, tenant, loopback
):
    settings.WORKFLOW_RUNS_QUEUE = "wr-billing-batch"
    fund(tenant, monthly=100)
    set_price("webhook", 5)
    template = Template.objects.create(
        tenant=tenant, name="Hook", processor="webhook", processor_config={"url": loopback.url}, max_attempts=1
    )
    # The second file's upstream is down: a retryable error stops the batch, and with one attempt the
    # batch job fails; the third file is never reached.
    loopback.script = {"down.txt": [Answer(503)]}
    files = [upload("ok.txt", "a"), upload("down.txt", "b"), upload("later.txt", "c")]
    response = start(admin_client, template, files, mode="batch")
    assert response.status_code == 201, response.content
    worker_factory(concurrency=1, queues="wr-billing-batch")
    run = wait_until(lambda: finished(response.json()["id"]), timeout=90, message="run finished")

    assert list(run.files.order_by("index").values_list("status", "error_code")) == [
        (FileStatus.COMPLETED, ""),
        (FileStatus.FAILED, "upstream_error"),
        (FileStatus.PENDING, ""),
    ]
    assert loopback.started.get("later.txt", 0) == 0  # never sent
    # The completed file and the failed one (the customer's upstream) are paid for; the file the batch
    # never reached is not: its reservation is held for Continue, which will run it.
    assert entries(tenant, "reserve") == [15]
    assert entries(tenant, "capture") == [10] and entries(tenant, "release") == []
    assert reserved(tenant) == 5
    assert_reconciled()
