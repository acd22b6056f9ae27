"""Starting a run: validation, the all-or-nothing charge, tenant scoping, listing."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from orchestration.models import Job
from workflow_runs.models import RunStatus, Template, WorkflowRun

from ..helpers import client_for
from .factories import balance, entries, fund, make_template, upload

pytestmark = pytest.mark.django_db


def stored_files():
    root = Path(settings.MEDIA_ROOT) / "workflow_runs"
    return sorted(str(path) for path in root.rglob("*") if path.is_file())


def start(client, chosen, files, **fields):
    data = {"template": str(chosen.pk), "files": files}
    data.update(fields)
    return client.post("/api/workflow-runs", data, format="multipart")


def test_a_run_is_recorded_with_its_files_jobs_and_reservation(member_client, tenant):
    fund(tenant, monthly=10)
    template = make_template(tenant=tenant, credits_per_run=2)

    response = start(member_client, template, [upload("a.txt", "a"), upload("b.txt", "b")], maxRetryCount=5)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["mode"], body["maxRetryCount"], body["totalJobs"]) == (
        RunStatus.RUNNING,
        "per_file",
        5,
        2,
    )
    assert [(f["index"], f["name"], f["status"]) for f in body["files"]] == [
        (0, "a.txt", "pending"),
        (1, "b.txt", "pending"),
    ]
    run = WorkflowRun.objects.get(pk=body["id"])
    assert all(default_storage.exists(f.file.name) for f in run.files.all())
    assert Job.objects.filter(stage=run.stage).count() == 2
    assert balance(tenant) == (6, 0)


def test_a_run_the_tenant_cannot_pay_for_is_402_and_leaves_nothing(member_client, tenant):
    fund(tenant, monthly=3)
    template = make_template(tenant=tenant, credits_per_run=2)
    files_before = stored_files()

    response = start(member_client, template, [upload("a.txt", "a"), upload("b.txt", "b")])

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_credits"
    assert not WorkflowRun.objects.exists() and not Job.objects.exists()
    assert balance(tenant) == (3, 0) and entries(tenant, "reserve") == []
    assert stored_files() == files_before  # the uploads were removed again


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"mode": "sometimes"}, "mode"),
        ({"maxRetryCount": 11}, "maxRetryCount"),
        ({"maxRetryCount": 0}, "maxRetryCount"),
        ({"max_retry_count": 0}, "max_retry_count"),
        ({"template": "not-a-uuid"}, "template"),
    ],
)
def test_invalid_fields_are_400_with_field_messages(member_client, tenant, fields, field):
    template = make_template(tenant=tenant)
    response = start(member_client, template, [upload("a.txt", "a")], **fields)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_no_files_is_400(member_client, tenant):
    template = make_template(tenant=tenant)
    response = member_client.post("/api/workflow-runs", {"template": str(template.pk)}, format="multipart")

    assert response.status_code == 400
    assert "files" in response.json()["error"]["fields"]


def test_another_tenants_or_an_archived_template_cannot_be_used(member_client, tenant, other_tenant):
    fund(tenant, monthly=10)
    foreign = make_template(tenant=other_tenant)
    archived = make_template(tenant=tenant)
    Template.all_objects.filter(pk=archived.pk).update(archived_at=timezone.now())

    for template in (foreign, archived):
        response = start(member_client, template, [upload("a.txt", "a")])
        assert response.status_code == 400
        assert "template" in response.json()["error"]["fields"]


def test_a_platform_wide_template_can_be_used_by_any_tenant(member_client, tenant):
    fund(tenant, monthly=10)
    response = start(member_client, make_template(tenant=None, credits_per_run=1), [upload("a.txt", "a")])

    assert response.status_code == 201, response.content
    assert entries(tenant, "reserve") == [1]


def test_the_run_list_is_scoped_to_the_tenant(member_client, tenant, other_tenant, platform_admin):
    fund(tenant, monthly=10)
    fund(other_tenant, monthly=10)
    start(member_client, make_template(tenant=tenant, credits_per_run=1), [upload("a.txt", "a")])
    WorkflowRun.objects.create(
        tenant=other_tenant, template=make_template(tenant=other_tenant), unit_price=1, processor="text_stats"
    )

    mine = member_client.get("/api/workflow-runs").json()
    everyone = client_for(platform_admin).get("/api/workflow-runs").json()

    assert mine["count"] == 1 and mine["results"][0]["tenant"] == str(tenant.pk)
    assert everyone["count"] == 2


def test_a_platform_admin_starts_a_run_for_a_named_tenant(platform_admin, tenant):
    fund(tenant, monthly=10)
    client = client_for(platform_admin)
    template = make_template(tenant=tenant, credits_per_run=1)

    missing = start(client, template, [upload("a.txt", "a")])
    named = start(client, template, [upload("a.txt", "a")], tenant=str(tenant.pk))

    assert missing.status_code == 400 and "tenant" in missing.json()["error"]["fields"]
    assert named.status_code == 201 and named.json()["tenant"] == str(tenant.pk)


def test_the_snake_case_max_retry_count_is_accepted_too(member_client, tenant):
    fund(tenant, monthly=10)
    response = start(
        member_client, make_template(tenant=tenant, credits_per_run=1), [upload("a.txt", "a")], max_retry_count=7
    )

    assert response.status_code == 201, response.content
    assert response.json()["maxRetryCount"] == 7
