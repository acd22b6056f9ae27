"""Destructive and costly campaign actions take a tenant admin. A member may start, retry, restart or
resume a phase only up to `RELAY_MEMBER_MAX_PHASE_DOMAINS` domains (generation: the `num_domains` it
will run; a later phase: the domains generated), through the API, the console and the admin alike; a
member may not delete a campaign or edit personas and proxies. Every refusal is a 403 in the envelope."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Model

from campaigns.models import Campaign, CampaignPhase, DnsPersona, GeneratedDomain, HttpPersona, PhaseStatus, Proxy
from campaigns.services.campaigns import campaign_create, phase_config_set
from campaigns.services.phases import phase_pause, phase_start
from orchestration.models import Event, Job
from tenants.models import Role

from ..admin_actions import act, admin_browser, staff
from ..helpers import make_user
from .factories import dns_persona, generation_config

pytestmark = pytest.mark.django_db

LIMIT = 40
START = "/api/campaigns/{}/phases/{}/start"


@pytest.fixture(autouse=True)
def member_limit(settings):
    settings.RELAY_MEMBER_MAX_PHASE_DOMAINS = LIMIT


def generation_campaign(tenant, num_domains: int) -> Campaign:
    campaign = campaign_create(tenant=tenant, name=f"{num_domains} domains")
    phase_config_set(campaign=campaign, phase="domain_generation", data=generation_config(num_domains=num_domains))
    return campaign


def phase_row(campaign: Campaign, phase: str = "domain_generation") -> CampaignPhase:
    return CampaignPhase.objects.get(campaign=campaign, phase=phase)


def assert_admin_required(response, *, domains: int) -> None:
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["error"]["code"] == "admin_required"
    assert (body["phaseDomains"], body["memberMaxPhaseDomains"]) == (domains, LIMIT)


@pytest.mark.parametrize(("domains", "allowed"), [(LIMIT, True), (LIMIT + 1, False)])
def test_a_member_starts_a_generation_up_to_the_limit(tenant, member_client, domains, allowed):
    campaign = generation_campaign(tenant, domains)

    response = member_client.post(START.format(campaign.pk, "domain_generation"))

    if allowed:
        assert response.status_code == 202, response.json()
        assert phase_row(campaign).status == PhaseStatus.IN_PROGRESS
    else:
        assert_admin_required(response, domains=domains)
        assert phase_row(campaign).status == PhaseStatus.NOT_STARTED
        assert not Job.objects.filter(key__startswith=f"campaign:{campaign.pk}:").exists()
        assert not Event.objects.filter(stream=campaign.stream, type="phase_started").exists()


def test_a_tenant_admin_starts_a_generation_over_the_limit(tenant, admin_client):
    campaign = generation_campaign(tenant, LIMIT + 1)
    assert admin_client.post(START.format(campaign.pk, "domain_generation")).status_code == 202


def campaign_with_generated(tenant, generated: int) -> Campaign:
    """Generation completed with `generated` domains; DNS validation configured."""
    campaign = generation_campaign(tenant, generated)
    persona = dns_persona(tenant, port=5300)
    phase_config_set(campaign=campaign, phase="dns_validation", data={"personaIds": [str(persona.pk)]})
    GeneratedDomain.objects.bulk_create(
        GeneratedDomain(campaign=campaign, seq=seq, offset=seq, name=f"d{seq}.test") for seq in range(generated)
    )
    CampaignPhase.objects.filter(campaign=campaign, phase="domain_generation").update(status=PhaseStatus.COMPLETED)
    return campaign


@pytest.mark.parametrize(("generated", "allowed"), [(LIMIT, True), (LIMIT + 1, False)])
def test_a_later_phase_counts_the_domains_generated(tenant, member_client, admin_client, generated, allowed):
    campaign = campaign_with_generated(tenant, generated)

    response = member_client.post(START.format(campaign.pk, "dns_validation"))

    if allowed:
        assert response.status_code == 202, response.json()
    else:
        assert_admin_required(response, domains=generated)
        assert phase_row(campaign, "dns_validation").status == PhaseStatus.NOT_STARTED
        assert admin_client.post(START.format(campaign.pk, "dns_validation")).status_code == 202


def failed_generation(tenant, *, ran: int, stored: int) -> Campaign:
    """Generation started by an admin with `ran` domains and failed; its stored config now says `stored`."""
    campaign = generation_campaign(tenant, ran)
    phase_start(campaign=campaign, phase="domain_generation", actor=make_user(tenant=tenant, role=Role.TENANT_ADMIN))
    CampaignPhase.objects.filter(campaign=campaign, phase="domain_generation").update(status=PhaseStatus.FAILED)
    phase_config_set(campaign=campaign, phase="domain_generation", data=generation_config(num_domains=stored))
    return campaign


def test_a_retry_is_sized_by_the_config_it_runs(tenant, member_client):
    """A retry runs the snapshot (over the limit): refused; a restart runs the stored config (at it): allowed."""
    campaign = failed_generation(tenant, ran=LIMIT + 1, stored=LIMIT)

    assert_admin_required(member_client.post(START.format(campaign.pk, "domain_generation")), domains=LIMIT + 1)
    assert phase_row(campaign).status == PhaseStatus.FAILED

    restarted = member_client.post(START.format(campaign.pk, "domain_generation"), {"restart": True}, format="json")
    assert restarted.status_code == 202, restarted.json()
    assert (phase_row(campaign).config_snapshot or {})["num_domains"] == LIMIT


@pytest.mark.parametrize(("domains", "allowed"), [(LIMIT, True), (LIMIT + 1, False)])
def test_a_member_resumes_a_paused_phase_up_to_the_limit(tenant, tenant_admin, member_client, domains, allowed):
    campaign = generation_campaign(tenant, domains)
    phase_start(campaign=campaign, phase="domain_generation", actor=tenant_admin)
    phase_pause(campaign=campaign, phase="domain_generation", actor=tenant_admin)

    response = member_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/resume")

    if allowed:
        assert response.status_code == 200, response.json()
        assert phase_row(campaign).status == PhaseStatus.IN_PROGRESS
    else:
        assert_admin_required(response, domains=domains)
        assert phase_row(campaign).status == PhaseStatus.PAUSED


def test_the_console_applies_the_same_limit(tenant, tenant_member):
    from django.test import Client

    client = Client()
    client.force_login(tenant_member)
    over, at = generation_campaign(tenant, LIMIT + 1), generation_campaign(tenant, LIMIT)

    refused = client.post(f"/console/campaigns/{over.pk}/phases/domain_generation/start", HTTP_HX_REQUEST="true")
    started = client.post(f"/console/campaigns/{at.pk}/phases/domain_generation/start", HTTP_HX_REQUEST="true")

    assert refused.status_code == 403
    assert f"tenant members may start phases of at most {LIMIT}" in refused.content.decode()
    assert phase_row(over).status == PhaseStatus.NOT_STARTED
    assert started.status_code == 200
    assert phase_row(at).status == PhaseStatus.IN_PROGRESS


def test_the_admin_actions_apply_the_same_limit(tenant):
    member = staff(make_user(tenant=tenant, role=Role.TENANT_MEMBER), "view_campaignphase", "change_campaignphase")
    admin = staff(make_user(tenant=tenant, role=Role.TENANT_ADMIN), "view_campaignphase", "change_campaignphase")
    over, at = generation_campaign(tenant, LIMIT + 1), generation_campaign(tenant, LIMIT)
    phases = "/admin/campaigns/campaignphase/"

    shown = act(admin_browser(member), phases, "start_phases", [phase_row(over), phase_row(at)])

    assert any("(403 admin_required)" in line and str(LIMIT + 1) in line for line in shown), shown
    assert (phase_row(over).status, phase_row(at).status) == (PhaseStatus.NOT_STARTED, PhaseStatus.IN_PROGRESS)
    assert act(admin_browser(admin), phases, "start_phases", [phase_row(over)])[0].endswith("started.")
    assert phase_row(over).status == PhaseStatus.IN_PROGRESS


# --- deleting a campaign -------------------------------------------------------------------------


def test_a_member_may_not_delete_a_campaign(tenant, member_client, admin_client):
    campaign = campaign_create(tenant=tenant, name="keep")

    response = member_client.delete(f"/api/campaigns/{campaign.pk}")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert Campaign.objects.filter(pk=campaign.pk).exists()
    assert admin_client.delete(f"/api/campaigns/{campaign.pk}").status_code == 204


def test_the_admin_deletes_campaigns_through_the_service_for_tenant_admins_only(tenant):
    perms = ("view_campaign", "change_campaign", "delete_campaign")
    member = staff(make_user(tenant=tenant, role=Role.TENANT_MEMBER), *perms)
    admin = staff(make_user(tenant=tenant, role=Role.TENANT_ADMIN), *perms)
    campaign = campaign_create(tenant=tenant, name="to delete")
    campaigns = "/admin/campaigns/campaign/"

    # Django's own delete page (a row-by-row cascade that would leave the event stream) is not offered.
    assert admin_browser(admin).get(f"{campaigns}{campaign.pk}/delete/").status_code == 403
    shown = act(admin_browser(member), campaigns, "delete_campaigns", [campaign], relay_confirmed="yes")
    assert "(403 permission_denied)" in shown[0]
    assert Campaign.objects.filter(pk=campaign.pk).exists()

    shown = act(admin_browser(admin), campaigns, "delete_campaigns", [campaign], relay_confirmed="yes")
    assert shown[0].endswith("deleted.")
    assert not Campaign.objects.filter(pk=campaign.pk).exists()
    assert not Event.objects.filter(stream=campaign.stream).exists()


# --- personas and proxies ------------------------------------------------------------------------

OWNED: dict[str, tuple[type[Model], dict[str, Any]]] = {
    "/api/personas/dns": (DnsPersona, {"name": "d", "nameservers": ["127.0.0.1:5300"]}),
    "/api/personas/http": (HttpPersona, {"name": "h"}),
    "/api/proxies": (Proxy, {"name": "p", "url": "http://127.0.0.1:3128"}),
}


@pytest.mark.parametrize("path", list(OWNED))
def test_a_member_may_read_but_not_edit_personas_and_proxies(tenant, member_client, admin_client, path):
    model, body = OWNED[path]
    created = admin_client.post(path, body, format="json")
    assert created.status_code == 201, created.json()
    detail = f"{path}/{created.json()['id']}"

    assert member_client.get(detail).status_code == 200
    for response in (
        member_client.post(path, body, format="json"),
        member_client.patch(detail, {"name": "renamed"}, format="json"),
        member_client.delete(detail),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert list(model._default_manager.values_list("name", flat=True)) == [body["name"]]


@pytest.mark.parametrize("model", ["dnspersona", "httppersona", "proxy"])
def test_in_the_admin_members_see_personas_and_proxies_and_tenant_admins_edit_them(tenant, other_tenant, model):
    perms = [f"{action}_{model}" for action in ("view", "add", "change", "delete")]
    member = staff(make_user(tenant=tenant, role=Role.TENANT_MEMBER), *perms)
    admin = staff(make_user(tenant=tenant, role=Role.TENANT_ADMIN), *perms)
    ours = {
        "dnspersona": lambda t: DnsPersona.objects.create(tenant=t, name="ours-dns", nameservers=["127.0.0.1:5300"]),
        "httppersona": lambda t: HttpPersona.objects.create(tenant=t, name="ours-http"),
        "proxy": lambda t: Proxy.objects.create(tenant=t, name="ours-proxy", url="http://127.0.0.1:3128"),
    }[model]
    mine, theirs = ours(tenant), ours(other_tenant)
    base = f"/admin/campaigns/{model}/"

    member_browser = admin_browser(member)
    assert member_browser.get(f"{base}{mine.pk}/change/").status_code == 200  # a read-only view
    assert member_browser.post(f"{base}{mine.pk}/change/", {"name": "renamed"}).status_code == 403
    assert member_browser.get(f"{base}add/").status_code == 403
    assert member_browser.get(f"{base}{mine.pk}/delete/").status_code == 403
    assert admin_browser(admin).get(f"{base}{mine.pk}/delete/").status_code == 200
    add_form = admin_browser(admin).get(f"{base}add/")
    assert add_form.status_code == 200
    # The tenant field offers the admin's own tenant only.
    assert str(tenant.pk) in add_form.content.decode() and str(other_tenant.pk) not in add_form.content.decode()
    # Another tenant's row is not found for a tenant's staff (the admin redirects with a message).
    assert admin_browser(admin).get(f"{base}{theirs.pk}/change/").status_code == 302
