"""Operators act on campaigns from the admin through the API's services: the same rules, the same
errors (409 with missingPhases, 403 for a role that may not act), scoped to what they may see."""

import pytest

from campaigns.models import Campaign, CampaignPhase
from campaigns.services.campaigns import campaign_create, phase_config_set
from tenants.models import Role

from ..admin_actions import act, admin_browser, staff
from ..helpers import make_user
from .factories import generation_config

pytestmark = pytest.mark.django_db

PHASES = "/admin/campaigns/campaignphase/"
CAMPAIGNS = "/admin/campaigns/campaign/"


def phase_row(campaign, phase="domain_generation"):
    return CampaignPhase.objects.get(campaign=campaign, phase=phase)


def test_starting_a_full_sequence_with_missing_configs_shows_the_409_and_starts_nothing(tenant, platform_admin):
    campaign = campaign_create(tenant=tenant, name="c", mode="full_sequence")
    phase_config_set(campaign=campaign, phase="domain_generation", data=generation_config())

    shown = act(admin_browser(platform_admin), PHASES, "start_phases", [phase_row(campaign)])

    assert len(shown) == 1
    assert "(409 missing_phase_config)" in shown[0]
    assert "missingPhases: dns_validation http_keyword_validation analysis" in shown[0]
    assert phase_row(campaign).status == "not_started"


def test_start_pause_and_resume_go_through_the_phase_services(tenant, platform_admin):
    campaign = campaign_create(tenant=tenant, name="c")
    phase_config_set(campaign=campaign, phase="domain_generation", data=generation_config())
    client = admin_browser(platform_admin)

    assert act(client, PHASES, "start_phases", [phase_row(campaign)])[0].endswith("started.")
    assert phase_row(campaign).status == "in_progress"
    assert act(client, PHASES, "pause_phases", [phase_row(campaign)])[0].endswith("paused.")
    assert (phase_row(campaign).status, phase_row(campaign).paused_reason) == ("paused", "user")
    assert act(client, PHASES, "resume_phases", [phase_row(campaign)])[0].endswith("resumed.")
    assert phase_row(campaign).status == "in_progress"

    refused = act(client, PHASES, "resume_phases", [phase_row(campaign)])
    assert "(409 phase_not_paused)" in refused[0]


def test_switching_mode_records_the_change(tenant, platform_admin):
    campaign = campaign_create(tenant=tenant, name="c")
    act(admin_browser(platform_admin), CAMPAIGNS, "switch_to_full_sequence", [campaign])
    assert Campaign.objects.get(pk=campaign.pk).mode == "full_sequence"


def test_a_member_with_admin_access_gets_the_role_error_on_cancel(tenant):
    member = staff(make_user(tenant=tenant, role=Role.TENANT_MEMBER), "view_campaign", "change_campaign")
    campaign = campaign_create(tenant=tenant, name="c")

    shown = act(admin_browser(member), CAMPAIGNS, "cancel_campaigns", [campaign])

    assert "(403 permission_denied)" in shown[0]
    assert Campaign.objects.get(pk=campaign.pk).cancelled_at is None


def test_tenant_staff_see_and_act_on_their_own_tenant_only(tenant, other_tenant):
    admin = staff(make_user(tenant=tenant, role=Role.TENANT_ADMIN), "view_campaign", "change_campaign")
    ours = campaign_create(tenant=tenant, name="ours")
    theirs = campaign_create(tenant=other_tenant, name="theirs")
    client = admin_browser(admin)

    listing = client.get(CAMPAIGNS).content.decode()
    assert "ours" in listing and "theirs" not in listing
    act(client, CAMPAIGNS, "switch_to_full_sequence", [ours, theirs])
    assert Campaign.objects.get(pk=ours.pk).mode == "full_sequence"
    assert Campaign.objects.get(pk=theirs.pk).mode == "step_by_step"
