"""The rules of Continue (`POST /api/workflow-runs/<id>/retry-failed`), checked on runs put in a state.

These run in a test transaction: nothing is published, so they see exactly what the request recorded.
"""

import pytest
from django.utils import timezone

from orchestration.models import Event, Job, JobState
from tenants.models import Role
from workflow_runs.models import CreditLedgerEntry, FileStatus, RunMode, RunStatus, Template, WorkflowRun

from ..helpers import client_for, make_user
from .factories import balance, entries, file_attempts, file_statuses, fund, make_template, run_in_state

pytestmark = pytest.mark.django_db

F, P, C, E = FileStatus.FAILED, FileStatus.PENDING, FileStatus.COMPLETED, FileStatus.ERROR


def retry(client, run):
    return client.post(f"/api/workflow-runs/{run.pk}/retry-failed")


@pytest.fixture
def template(tenant):
    return make_template(tenant=tenant, credits_per_run=3)


def test_continue_retries_failed_files_reserves_them_and_records_one_job_each(admin_client, tenant, template):
    fund(tenant, monthly=100)
    run = run_in_state(tenant=tenant, template=template, files=[(C, 0), (F, 0), (F, 0)])

    response = retry(admin_client, run)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == RunStatus.RUNNING
    assert body["creditsReservedByContinue"] == {"monthly": 6, "purchased": 0, "total": 6}
    assert body["creditsReserved"] == {"monthly": 6, "purchased": 0, "total": 6}
    assert body["retriedFiles"] == [1, 2]
    assert [f["status"] for f in body["files"]] == [C, P, P]
    assert [f["retryAttempt"] for f in body["files"]] == [0, 1, 1]
    assert body["files"][0]["output"] == {"words": 4}  # completed files keep their results
    assert (body["totalJobs"], body["completedJobs"], body["failedJobs"]) == (2, 0, 0)
    assert body["canContinue"] is False and body["continueBlockedReason"] == "run_running"
    assert balance(tenant) == (94, 0)
    assert entries(tenant, "reserve") == [6] and entries(tenant, "capture") == []
    jobs = Job.objects.filter(stage=run.stage, round=2).order_by("key")
    assert [(j.key, j.state) for j in jobs] == [
        (f"run:{run.pk}:file:1", JobState.QUEUED),
        (f"run:{run.pk}:file:2", JobState.QUEUED),
    ]
    assert Event.objects.filter(stream=run.stream, type="retry_started").count() == 1


def test_a_running_run_is_409_and_nothing_changes(admin_client, tenant, template):
    fund(tenant, monthly=100)
    run = run_in_state(tenant=tenant, template=template, files=[(F, 0)], status=RunStatus.RUNNING)

    response = retry(admin_client, run)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "run_running"
    assert balance(tenant) == (100, 0) and file_statuses(run) == [F]


def test_a_completed_run_is_400(admin_client, tenant, template):
    run = run_in_state(tenant=tenant, template=template, files=[(C, 0)], status=RunStatus.COMPLETED)

    response = retry(admin_client, run)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "run_completed"


def test_nothing_failed_or_pending_is_400(admin_client, tenant, template):
    run = run_in_state(tenant=tenant, template=template, files=[(C, 0), (E, 0)])

    response = retry(admin_client, run)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "nothing_to_retry"


def test_max_retry_count_is_all_or_nothing_and_names_the_files(admin_client, tenant, template):
    fund(tenant, monthly=100)
    run = run_in_state(tenant=tenant, template=template, files=[(F, 1), (F, 2), (P, 2), (C, 2)], max_retry_count=2)

    response = retry(admin_client, run)

    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "max_retry_exceeded"
    assert body["exhaustedFiles"] == [1, 2]
    assert "File 1 (f1.txt)" in body["error"]["fields"]["files"][0]
    assert file_statuses(run) == [F, F, P, C] and file_attempts(run) == [1, 2, 2, 2]
    assert balance(tenant) == (100, 0) and entries(tenant, "reserve") == []


def test_an_archived_template_does_not_stop_the_retry(admin_client, tenant, template):
    fund(tenant, monthly=100)
    run = run_in_state(tenant=tenant, template=template, files=[(F, 0)])
    Template.all_objects.filter(pk=template.pk).update(archived_at=timezone.now())
    assert not Template.objects.filter(pk=template.pk).exists()

    response = retry(admin_client, run)

    assert response.status_code == 200, response.content
    assert response.json()["creditsReservedByContinue"]["total"] == 3
    assert response.json()["template"]["archived"] is True


def test_pending_files_only_are_retried_for_free(admin_client, tenant, template):
    run = run_in_state(tenant=tenant, template=template, files=[(P, 0), (P, 0), (C, 0)])  # tenant has 0 credits

    response = retry(admin_client, run)

    assert response.status_code == 200, response.content
    assert response.json()["creditsReservedByContinue"]["total"] == 0
    assert response.json()["retriedFiles"] == [0, 1]
    assert CreditLedgerEntry.objects.filter(tenant=tenant).count() == 0


def test_mixed_failed_and_pending_reserves_only_the_failed(admin_client, tenant, template):
    fund(tenant, monthly=4, purchased=10)
    run = run_in_state(tenant=tenant, template=template, files=[(F, 0), (P, 0), (F, 1), (P, 0)])

    response = retry(admin_client, run)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reservedFiles"] == 2
    assert body["creditsReservedByContinue"] == {"monthly": 4, "purchased": 2, "total": 6}  # monthly first
    assert body["retriedFiles"] == [0, 1, 2, 3]
    assert balance(tenant) == (0, 8)
    assert body["creditsReserved"] == {"monthly": 4, "purchased": 2, "total": 6}
    assert body["creditsConsumed"] == {"monthly": 0, "purchased": 0, "total": 0}  # nothing captured yet
    ledger = list(
        CreditLedgerEntry.objects.filter(tenant=tenant, reason="reserve").values_list("source", "amount", "run_id")
    )
    assert sorted(ledger) == [("monthly", 4, run.pk), ("purchased", 2, run.pk)]


def test_error_files_are_never_retried(admin_client, tenant, template):
    fund(tenant, monthly=100)
    run = run_in_state(tenant=tenant, template=template, files=[(E, 0), (F, 0), (E, 0)])

    response = retry(admin_client, run)

    assert response.status_code == 200
    assert response.json()["retriedFiles"] == [1]
    assert file_statuses(run) == [E, P, E]
    assert not Job.objects.filter(key__in=[f"run:{run.pk}:file:0", f"run:{run.pk}:file:2"]).exists()


def test_not_enough_credits_is_402_and_nothing_changes(admin_client, tenant, template):
    fund(tenant, monthly=2, purchased=3)  # 5 < 2 files x 3
    run = run_in_state(tenant=tenant, template=template, files=[(F, 0), (F, 0), (P, 0)])

    response = retry(admin_client, run)

    assert response.status_code == 402
    body = response.json()
    assert body["error"]["code"] == "insufficient_credits"
    assert (body["creditsRequired"], body["creditsAvailable"]) == (6, 5)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS
    assert file_statuses(run) == [F, F, P] and file_attempts(run) == [0, 0, 0]
    assert balance(tenant) == (2, 3) and entries(tenant, "reserve") == []
    assert not Job.objects.filter(stage=run.stage).exists()


def test_batch_mode_records_one_job_keyed_by_the_run(admin_client, tenant, template):
    fund(tenant, monthly=100)
    run = run_in_state(tenant=tenant, template=template, files=[(C, 0), (F, 0), (P, 0)], mode=RunMode.BATCH)

    response = retry(admin_client, run)

    assert response.status_code == 200
    assert response.json()["creditsReservedByContinue"]["total"] == 3
    assert response.json()["totalJobs"] == 1
    assert list(Job.objects.filter(stage=run.stage).values_list("key", "kind")) == [
        (f"run:{run.pk}", "workflow_run.batch")
    ]


def test_another_tenants_run_is_404(tenant, other_tenant, template):
    fund(tenant, monthly=100)
    run = run_in_state(tenant=tenant, template=template, files=[(F, 0)])
    stranger = client_for(make_user(tenant=other_tenant, role=Role.TENANT_ADMIN))

    assert retry(stranger, run).status_code == 404
    assert stranger.get(f"/api/workflow-runs/{run.pk}").status_code == 404
    assert file_statuses(run) == [F] and balance(tenant) == (100, 0)


def test_a_tenant_member_is_403_and_anonymous_is_401(member_client, tenant, template):
    run = run_in_state(tenant=tenant, template=template, files=[(F, 0)])

    assert retry(member_client, run).status_code == 403
    assert retry(client_for(None), run).status_code == 401
    assert file_statuses(run) == [F]


def test_a_platform_admin_may_continue_any_tenants_run(platform_admin, tenant, template):
    fund(tenant, monthly=100)
    run = run_in_state(tenant=tenant, template=template, files=[(F, 0)])

    response = retry(client_for(platform_admin), run)

    assert response.status_code == 200
    assert entries(tenant, "reserve") == [3]


def test_an_unknown_run_is_404(admin_client):
    assert admin_client.post("/api/workflow-runs/00000000-0000-0000-0000-000000000000/retry-failed").status_code == 404


@pytest.mark.parametrize(
    ("files", "status", "credits", "reason"),
    [
        ([(F, 0)], RunStatus.RUNNING, 100, "run_running"),
        ([(C, 0)], RunStatus.COMPLETED, 100, "run_completed"),
        ([(C, 0), (E, 0)], RunStatus.COMPLETED_WITH_ERRORS, 100, "nothing_to_retry"),
        ([(F, 3)], RunStatus.FAILED, 100, "max_retry_exceeded"),
        ([(F, 0)], RunStatus.FAILED, 2, "insufficient_credits"),
        ([(F, 0), (P, 1)], RunStatus.FAILED, 3, None),
    ],
)
def test_the_run_detail_says_whether_continue_is_possible_and_why_not(
    admin_client, tenant, template, files, status, credits, reason
):
    fund(tenant, monthly=credits)
    run = run_in_state(tenant=tenant, template=template, files=files, status=status)

    body = admin_client.get(f"/api/workflow-runs/{run.pk}").json()

    assert (body["canContinue"], body["continueBlockedReason"]) == (reason is None, reason)
    assert body["fileCounts"][F] == sum(1 for s, _ in files if s == F)


def test_the_run_detail_tells_a_member_they_may_not_continue(member_client, tenant, template):
    run = run_in_state(tenant=tenant, template=template, files=[(P, 0)])

    body = member_client.get(f"/api/workflow-runs/{run.pk}").json()

    assert body["continueBlockedReason"] == "role_not_allowed"
    assert WorkflowRun.objects.get(pk=run.pk).status == RunStatus.COMPLETED_WITH_ERRORS
