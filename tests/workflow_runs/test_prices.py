"""Prices belong to the platform: a price list only platform admins write; a run snapshots its price,
processor and processor config at start, and neither a price change nor a template edit reaches it."""

import pytest

from orchestration.models import Job
from orchestration.runner import job_claim
from workflow_runs import jobs
from workflow_runs.models import CreditAccount, FileStatus, ProcessorPrice, RunStatus, WorkflowRun

from ..helpers import client_for
from .factories import entries, fund, make_template, run_in_state, set_price, upload

pytestmark = pytest.mark.django_db

F, C = FileStatus.FAILED, FileStatus.COMPLETED


@pytest.mark.parametrize("body", [{"creditsPerRun": 0}, {"creditsPerRun": 5}, {"credits_per_run": 1}])
def test_a_tenant_admin_cannot_put_a_price_on_a_template(admin_client, tenant, body):
    created = admin_client.post(
        "/api/workflow-templates", {"name": "Free", "processor": "text_stats", **body}, format="json"
    )
    template = make_template(tenant=tenant)
    patched = admin_client.patch(f"/api/workflow-templates/{template.pk}", body, format="json")

    for response in (created, patched):
        assert response.status_code == 400
        (field,) = response.json()["error"]["fields"]
        assert field in body


def test_a_tenant_admin_cannot_set_or_change_a_price(admin_client, member_client):
    set_price("text_stats", 2)

    for client in (admin_client, member_client):
        response = client.post("/api/prices", {"processor": "text_stats", "creditsPerFile": 0}, format="json")
        assert response.status_code == 403
    assert ProcessorPrice.objects.get(processor="text_stats").credits_per_file == 2


def test_a_platform_admin_sets_prices_per_processor_and_plan(platform_admin, member_client, tenant):
    client = client_for(platform_admin)

    default = client.post("/api/prices", {"processor": "text_stats", "creditsPerFile": 3}, format="json")
    gold = client.post("/api/prices", {"processor": "text_stats", "plan": "gold", "creditsPerFile": 1}, format="json")
    changed = client.post("/api/prices", {"processor": "text_stats", "creditsPerFile": 4}, format="json")
    zero = client.post("/api/prices", {"processor": "text_stats", "creditsPerFile": 0}, format="json")

    assert (default.status_code, gold.status_code, changed.status_code) == (201, 201, 201)
    assert zero.status_code == 400 and "creditsPerFile" in zero.json()["error"]["fields"]
    listed = member_client.get("/api/prices").json()
    assert sorted(
        (p["processor"], p["plan"], p["creditsPerFile"]) for p in listed if p["processor"] == "text_stats"
    ) == [
        ("text_stats", "", 4),
        ("text_stats", "gold", 1),
    ]
    template = make_template(tenant=tenant, credits_per_run=4)
    assert member_client.get(f"/api/workflow-templates/{template.pk}").json()["creditsPerRun"] == 4
    CreditAccount.objects.update_or_create(tenant=tenant, defaults={"plan": "gold"})
    assert member_client.get(f"/api/workflow-templates/{template.pk}").json()["creditsPerRun"] == 1


def test_a_run_pays_its_tenants_plan_price(member_client, tenant):
    template = make_template(tenant=tenant, credits_per_run=5)
    set_price("text_stats", 2, plan="gold")
    fund(tenant, monthly=10)
    CreditAccount.objects.filter(pk=tenant.pk).update(plan="gold")

    response = member_client.post(
        "/api/workflow-runs", {"template": str(template.pk), "files": [upload("a.txt", "a")]}, format="multipart"
    )

    assert response.status_code == 201, response.content
    assert response.json()["unitPrice"] == 2 and entries(tenant, "reserve") == [2]


def test_an_unpriced_processor_cannot_run(member_client, tenant):
    fund(tenant, monthly=10)
    template = make_template(tenant=tenant, processor="json_validate")
    ProcessorPrice.objects.all().delete()

    response = member_client.post(
        "/api/workflow-runs", {"template": str(template.pk), "files": [upload("a.json", "{}")]}, format="multipart"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "processor_not_priced"
    assert not WorkflowRun.objects.exists()


def test_a_price_change_after_the_start_changes_nothing_for_the_run_or_its_continue(admin_client, tenant):
    fund(tenant, monthly=100)
    template = make_template(tenant=tenant, credits_per_run=3)
    run = run_in_state(tenant=tenant, template=template, files=[(C, 0), (F, 0), (F, 0)])

    set_price("text_stats", 1)  # cheaper now: Continue must still reserve at the run's price
    cheaper = admin_client.get(f"/api/workflow-runs/{run.pk}").json()
    response = admin_client.post(f"/api/workflow-runs/{run.pk}/retry-failed")

    assert cheaper["unitPrice"] == 3 and cheaper["continueCreditsRequired"] == 6
    assert response.status_code == 200, response.content
    assert response.json()["creditsReservedByContinue"]["total"] == 6
    assert entries(tenant, "reserve") == [6]


def test_a_template_edit_after_the_start_does_not_reach_the_runs_files(admin_client, tenant):
    fund(tenant, monthly=100)
    template = make_template(tenant=tenant, credits_per_run=2, config={"top_words": 1})
    started = admin_client.post(
        "/api/workflow-runs",
        {"template": str(template.pk), "files": [upload("a.txt", "one two two")]},
        format="multipart",
    )
    assert started.status_code == 201, started.content
    edited = admin_client.patch(
        f"/api/workflow-templates/{template.pk}",
        {"processor": "csv_validate", "processorConfig": {"required_columns": ["id"]}},
        format="json",
    )
    assert edited.status_code == 200
    set_price("text_stats", 50)

    run = WorkflowRun.objects.get(pk=started.json()["id"])
    job = job_claim(Job.objects.get(stage=run.stage).pk)  # claimed as a worker would, so its writes are fenced in
    assert job is not None
    output = jobs.run_file_job(job)  # what a worker would run now: the snapshot, not the edited template

    assert (run.processor, run.processor_config, run.unit_price) == ("text_stats", {"top_words": 1}, 2)
    assert output["top_words"] == [["two", 2]]
    assert run.status == RunStatus.RUNNING
