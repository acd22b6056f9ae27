"""Phase configs are validated on write (400 with field-level messages) and stored per (campaign, phase)."""

import pytest

from campaigns.models import PhaseConfig
from campaigns.services.campaigns import campaign_create

from .factories import dns_persona, generation_config

pytestmark = pytest.mark.django_db


def url(campaign, phase):
    return f"/api/campaigns/{campaign.pk}/phases/{phase}/config"


def test_a_valid_generation_config_is_stored_and_read_back(tenant, admin_client):
    campaign = campaign_create(tenant=tenant, name="c")
    response = admin_client.put(url(campaign, "domain_generation"), generation_config(30), format="json")
    assert response.status_code == 200, response.content
    assert admin_client.get(url(campaign, "domain_generation")).json()["config"]["num_domains"] == 30
    assert PhaseConfig.objects.get(campaign=campaign, phase="domain_generation").config["offset_start"] == 0


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"variable_length": 0}, "variable_length"),
        ({"character_set": ""}, "character_set"),
        ({"character_set": "abca"}, "character_set"),
        ({"character_set": "ab$"}, "character_set"),
        ({"pattern_type": "middle"}, "pattern_type"),
        ({"num_domains": 0}, "num_domains"),
        ({"num_domains": 65}, "num_domains"),  # 8 * 8 = 64 names in the space
        ({"offset_start": 60, "num_domains": 5}, "num_domains"),
        ({"tld": ""}, "tld"),
    ],
)
def test_bad_generation_configs_are_400_with_the_field(tenant, admin_client, override, field):
    campaign = campaign_create(tenant=tenant, name="c")
    response = admin_client.put(
        url(campaign, "domain_generation"), {**generation_config(10), **override}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not PhaseConfig.objects.filter(campaign=campaign).exists()


def test_persona_phases_need_a_persona_of_this_tenant(tenant, other_tenant, admin_client):
    campaign = campaign_create(tenant=tenant, name="c")
    foreign = dns_persona(other_tenant, 53)
    empty = admin_client.put(url(campaign, "dns_validation"), {"personaIds": []}, format="json")
    theirs = admin_client.put(url(campaign, "dns_validation"), {"personaIds": [str(foreign.pk)]}, format="json")
    ours = admin_client.put(
        url(campaign, "dns_validation"), {"personaIds": [str(dns_persona(tenant, 53).pk)]}, format="json"
    )
    assert empty.status_code == theirs.status_code == 400
    assert "personaIds" in empty.json()["error"]["fields"] and "personaIds" in theirs.json()["error"]["fields"]
    assert ours.status_code == 200


def test_analysis_needs_a_keyword_and_unknown_phases_are_404(tenant, admin_client):
    campaign = campaign_create(tenant=tenant, name="c")
    assert (
        "keyword"
        in admin_client.put(url(campaign, "analysis"), {"keyword": ""}, format="json").json()["error"]["fields"]
    )
    assert admin_client.put(url(campaign, "analysis"), {"keyword": "shop"}, format="json").status_code == 200
    assert admin_client.put(url(campaign, "nonsense"), {}, format="json").status_code == 404


def test_personas_and_proxies_have_their_own_api(tenant, admin_client, member_client):
    created = admin_client.post("/api/personas/dns", {"name": "r", "nameservers": ["127.0.0.1:5353"]}, format="json")
    assert created.status_code == 201, created.content
    assert (
        admin_client.post("/api/personas/dns", {"name": "r", "nameservers": ["resolver"]}, format="json").status_code
        == 400
    )
    assert (
        member_client.post("/api/proxies", {"name": "p", "url": "http://127.0.0.1:3128"}, format="json").status_code
        == 403
    )
    assert admin_client.post("/api/proxies", {"name": "p", "url": "ftp://x"}, format="json").status_code == 400
    assert admin_client.post("/api/personas/http", {"name": "h", "port": 8080}, format="json").status_code == 201
    assert len(member_client.get("/api/personas/dns").json()["results"]) == 1
    persona_id = created.json()["id"]
    assert (
        admin_client.patch(f"/api/personas/dns/{persona_id}", {"timeout_seconds": 0.5}, format="json").json()[
            "timeout_seconds"
        ]
        == 0.5
    )


def test_the_auto_resume_setting_is_visible_to_members_and_changed_by_platform_admins(member_client, platform_admin):
    from ..helpers import client_for

    assert member_client.get("/api/campaigns/settings").json() == {"auto_resume_on_restart": True}
    assert (
        member_client.patch("/api/campaigns/settings", {"auto_resume_on_restart": False}, format="json").status_code
        == 403
    )
    response = client_for(platform_admin).patch(
        "/api/campaigns/settings", {"auto_resume_on_restart": False}, format="json"
    )
    assert response.json() == {"auto_resume_on_restart": False}
