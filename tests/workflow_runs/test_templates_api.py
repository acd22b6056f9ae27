"""Templates: tenant-owned or platform-wide, validated processor config, archive as a soft delete; the
price shown is the platform's, never the template's."""

import pytest

from workflow_runs.models import Template

from ..helpers import client_for
from .factories import make_template, set_price

pytestmark = pytest.mark.django_db


def test_a_tenant_admin_creates_a_template_for_its_tenant(admin_client, tenant):
    set_price("webhook", 3)
    response = admin_client.post(
        "/api/workflow-templates",
        {
            "name": "Extract",
            "processor": "webhook",
            "processorConfig": {"url": "https://extract.example/v1", "timeout_seconds": 10},
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["tenant"], body["creditsPerRun"], body["platformWide"]) == (str(tenant.pk), 3, False)
    assert body["processorConfig"] == {"url": "https://extract.example/v1", "timeout_seconds": 10.0, "headers": {}}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"processor": "telepathy"}, "processor"),
        ({"processor": "webhook", "processorConfig": {"url": "ftp://x"}}, "processorConfig"),
        ({"processor": "text_stats", "processorConfig": {"top_words": -1}}, "processorConfig"),
        ({"processor": "text_stats", "maxAttempts": 11}, "maxAttempts"),
    ],
)
def test_invalid_templates_are_400_with_field_messages(admin_client, data, field):
    response = admin_client.post("/api/workflow-templates", {"name": "T", **data}, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_members_list_their_tenants_and_platform_templates_but_cannot_create(member_client, tenant, other_tenant):
    mine = make_template(tenant=tenant, name="Mine")
    shared = make_template(tenant=None, name="Shared")
    make_template(tenant=other_tenant, name="Theirs")

    listed = member_client.get("/api/workflow-templates").json()

    assert {t["id"] for t in listed["results"]} == {str(mine.pk), str(shared.pk)}
    assert member_client.post("/api/workflow-templates", {"name": "x"}, format="json").status_code == 403


def test_another_tenants_template_is_404(admin_client, other_tenant):
    theirs = make_template(tenant=other_tenant)

    assert admin_client.get(f"/api/workflow-templates/{theirs.pk}").status_code == 404
    assert admin_client.patch(f"/api/workflow-templates/{theirs.pk}", {"name": "x"}, format="json").status_code == 404
    assert admin_client.delete(f"/api/workflow-templates/{theirs.pk}").status_code == 404


def test_only_platform_admins_create_or_change_platform_wide_templates(admin_client, platform_admin):
    shared = make_template(tenant=None)
    created = client_for(platform_admin).post(
        "/api/workflow-templates", {"name": "Stats", "processor": "text_stats"}, format="json"
    )

    assert created.status_code == 201 and created.json()["platformWide"] is True
    assert admin_client.patch(f"/api/workflow-templates/{shared.pk}", {"name": "x"}, format="json").status_code == 403
    assert admin_client.delete(f"/api/workflow-templates/{shared.pk}").status_code == 403


def test_a_template_is_updated(admin_client, tenant):
    template = make_template(tenant=tenant, processor="text_stats")

    response = admin_client.patch(
        f"/api/workflow-templates/{template.pk}",
        {"processor": "csv_validate", "processorConfig": {"required_columns": ["id"]}},
        format="json",
    )

    assert response.status_code == 200, response.content
    template.refresh_from_db()
    assert template.processor == "csv_validate"
    assert template.processor_config == {"required_columns": ["id"], "delimiter": ","}


def test_archiving_hides_the_template_but_keeps_the_row(admin_client, tenant):
    template = make_template(tenant=tenant)

    assert admin_client.delete(f"/api/workflow-templates/{template.pk}").status_code == 204

    assert admin_client.get("/api/workflow-templates").json()["count"] == 0
    assert admin_client.get(f"/api/workflow-templates/{template.pk}").status_code == 404
    assert Template.all_objects.get(pk=template.pk).archived_at is not None
