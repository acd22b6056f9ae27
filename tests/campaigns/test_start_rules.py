"""Starting phases: missing configs (409 missingPhases), gating in step_by_step, mode changes."""

import pytest

from campaigns.models import CampaignPhase
from orchestration.models import Event, Stage

from .factories import configured_campaign, dns_persona, http_persona

pytestmark = pytest.mark.django_db(transaction=True)

IDLE_QUEUE = "tests-campaigns-idle"  # nobody consumes it: phases stay in progress


@pytest.fixture
def personas(tenant, dns_server, http_server):
    return dns_persona(tenant, dns_server.port), http_persona(tenant, http_server.port)


def test_full_sequence_start_with_missing_configs_is_409_and_starts_nothing(tenant, personas, admin_client):
    dns, http = personas
    campaign = configured_campaign(
        tenant, dns=dns, http=http, skip=("http_keyword_validation", "analysis"), queue=IDLE_QUEUE
    )

    response = admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start")

    assert response.status_code == 409
    assert response.json()["missingPhases"] == ["http_keyword_validation", "analysis"]
    assert set(CampaignPhase.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"not_started"}
    assert not Stage.objects.filter(ref__startswith=f"campaign:{campaign.pk}").exists()
    assert not Event.objects.filter(stream=campaign.stream, type__startswith="phase_").exists()
    assert admin_client.get(f"/api/campaigns/{campaign.pk}").json()["pipelineState"] == "idle"


def test_step_by_step_only_needs_the_config_of_the_phase_it_starts(tenant, personas, admin_client):
    dns, http = personas
    campaign = configured_campaign(
        tenant, dns=dns, http=http, mode="step_by_step", skip=("analysis",), queue=IDLE_QUEUE
    )

    response = admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start")

    assert response.status_code == 202
    assert response.json()["phases"][0]["status"] == "in_progress"


def test_starting_a_phase_before_its_predecessor_completed_is_a_gating_409(tenant, personas, admin_client):
    dns, http = personas
    campaign = configured_campaign(tenant, dns=dns, http=http, mode="step_by_step", queue=IDLE_QUEUE)

    response = admin_client.post(f"/api/campaigns/{campaign.pk}/phases/http_keyword_validation/start")

    assert response.status_code == 409
    assert (response.json()["error"]["code"], response.json()["requiredPhase"]) == ("phase_gated", "dns_validation")


def test_mode_switch_emits_mode_changed_and_rejects_unknown_modes(tenant, admin_client, personas):
    dns, http = personas
    campaign = configured_campaign(tenant, dns=dns, http=http, mode="step_by_step")

    ok = admin_client.patch(f"/api/campaigns/{campaign.pk}/mode", {"mode": "full_sequence"}, format="json")
    bad = admin_client.patch(f"/api/campaigns/{campaign.pk}/mode", {"mode": "sometimes"}, format="json")

    assert ok.status_code == 200 and ok.json()["mode"] == "full_sequence"
    assert bad.status_code == 400 and "mode" in bad.json()["error"]["fields"]
    event = Event.objects.filter(stream=campaign.stream, type="mode_changed").last()
    assert event.payload["mode"] == "full_sequence"


def test_pause_and_resume_of_a_running_phase(tenant, personas, admin_client):
    dns, http = personas
    campaign = configured_campaign(tenant, dns=dns, http=http, queue=IDLE_QUEUE)
    admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start")

    paused = admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/pause")
    assert paused.status_code == 200
    assert (paused.json()["status"], paused.json()["pipelineState"], paused.json()["pausedReason"]) == (
        "paused",
        "paused",
        "user",
    )
    stage = CampaignPhase.objects.get(campaign=campaign, phase="domain_generation").stage
    assert set(stage.jobs.values_list("state", flat=True)) == {"pending"}
    assert admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/pause").status_code == 409

    resumed = admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    assert set(stage.jobs.values_list("state", flat=True)) == {"queued"}


def test_another_tenants_campaign_is_404_and_anonymous_is_401(tenant, other_tenant, admin_client):
    campaign = configured_campaign(other_tenant, dns=dns_persona(other_tenant, 53), http=http_persona(other_tenant, 80))
    from ..helpers import client_for

    assert admin_client.get(f"/api/campaigns/{campaign.pk}").status_code == 404
    assert admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start").status_code == 404
    assert client_for(None).get(f"/api/campaigns/{campaign.pk}").status_code == 401


def test_a_phase_start_retried_with_its_idempotency_key_replays_instead_of_starting_again(
    tenant, personas, admin_client
):
    dns, http = personas
    campaign = configured_campaign(tenant, dns=dns, http=http, mode="step_by_step", queue=IDLE_QUEUE)
    url = f"/api/campaigns/{campaign.pk}/phases/domain_generation/start"

    first = admin_client.post(url, HTTP_IDEMPOTENCY_KEY="start-1")
    again = admin_client.post(url, HTTP_IDEMPOTENCY_KEY="start-1")
    fresh = admin_client.post(url, HTTP_IDEMPOTENCY_KEY="start-2")

    assert first.status_code == again.status_code == 202, first.content
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert fresh.status_code == 409  # a new key is a new request: the phase is already running
    assert Event.objects.filter(stream=campaign.stream, type="phase_started").count() == 1
