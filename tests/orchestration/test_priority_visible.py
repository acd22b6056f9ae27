"""Each domain shows its stage's claim lane in the API: a scan and a small run are interactive, a
campaign's batches and a large run are bulk."""

import pytest

from workflow_runs.services.runs import INTERACTIVE_RUN_MAX_FILES

from ..campaigns.factories import configured_campaign, dns_persona, http_persona
from ..workflow_runs.factories import fund, make_template, upload

pytestmark = pytest.mark.django_db


def test_scans_runs_and_campaign_phases_show_their_priority(admin_client, tenant):
    scan = admin_client.post("/api/scans", {"url": "http://site.test/"}, format="json")
    assert scan.status_code == 201, scan.content
    assert scan.json()["priority"] == "interactive"
    assert admin_client.get(f"/api/scans/{scan.json()['id']}").json()["priority"] == "interactive"

    fund(tenant, purchased=10_000)
    template = make_template(tenant=tenant)
    for files, lane in [(1, "interactive"), (INTERACTIVE_RUN_MAX_FILES + 1, "bulk")]:
        run = admin_client.post(
            "/api/workflow-runs",
            {"template": str(template.pk), "files": [upload(f"f{i}.txt", "a b") for i in range(files)]},
            format="multipart",
        )
        assert run.status_code == 201, run.content
        assert run.json()["priority"] == lane
        listed = {row["id"]: row["priority"] for row in admin_client.get("/api/workflow-runs").json()["results"]}
        assert listed[run.json()["id"]] == lane

    campaign = configured_campaign(tenant, dns=dns_persona(tenant, 53), http=http_persona(tenant, 80))
    assert admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start").status_code == 202
    phases = {row["phase"]: row for row in admin_client.get(f"/api/campaigns/{campaign.pk}").json()["phases"]}
    assert phases["domain_generation"]["progress"]["priority"] == "bulk"
    assert phases["dns_validation"]["progress"] is None  # no stage yet
