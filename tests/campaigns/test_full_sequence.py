"""The full chain in full_sequence: one start runs all four phases against the loopback servers."""

import pytest
from django.db import connection

from campaigns.loopback.dns_server import ZoneRules, is_nxdomain
from campaigns.loopback.http_server import page_for
from campaigns.models import DnsResult, DomainScore, GeneratedDomain, HttpResult
from campaigns.phases import PHASES
from orchestration import metrics

from ..helpers import wait_until
from .factories import configured_campaign, dns_persona, event_types, http_persona, streamed_text, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_start_runs_every_phase_and_stores_real_results(
    celery_worker, dns_server, http_server, tenant, admin_client
):
    campaign = configured_campaign(
        tenant,
        dns=dns_persona(tenant, dns_server.port),
        http=http_persona(tenant, http_server.port),
        num_domains=40,
        batch_size=10,
    )
    before = metrics.value("relay_campaign_completions_total")

    response = admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start")

    assert response.status_code == 202, response.content
    wait_status(campaign, "completed")
    assert event_types(campaign) == [
        "phase_started",
        "phase_completed",
        "phase_auto_started",
        "phase_completed",
        "phase_auto_started",
        "phase_completed",
        "phase_auto_started",
        "phase_completed",
        "campaign_completed",
    ]
    names = list(GeneratedDomain.objects.filter(campaign=campaign).order_by("seq").values_list("name", flat=True))
    assert len(names) == len(set(names)) == 40
    assert names[:3] == ["aashop.test", "abshop.test", "acshop.test"]
    dns = {r.domain.name: r for r in DnsResult.objects.filter(campaign=campaign).select_related("domain")}
    assert len(dns) == 40
    for name, result in dns.items():
        expected = "nxdomain" if is_nxdomain(name, ZoneRules(nxdomain_every=5)) else "resolved"
        assert result.status == expected, name
        assert result.addresses == (["127.0.0.1"] if expected == "resolved" else [])
    fetched = {r.domain.name: r for r in HttpResult.objects.filter(campaign=campaign).select_related("domain")}
    assert set(fetched) == {name for name, r in dns.items() if r.status == "resolved"}
    for name, fetch in fetched.items():
        page = page_for(name, "/landing" if page_for(name).status == 301 else "/")
        assert fetch.status_code == page.status, name
        assert fetch.title == page.title
        assert ("pricing" in fetch.keyword_hits) == ("pricing" in page.body)
    assert DomainScore.objects.filter(campaign=campaign).count() == 40
    # Counters are bumped right after the worker's commit: give it a moment.
    wait_until(lambda: metrics.value("relay_campaign_completions_total") == before + 1, message="completion counted")

    body = admin_client.get(f"/api/campaigns/{campaign.pk}").json()
    assert body["status"] == "completed" and body["pipelineState"] == "completed"
    assert [p["status"] for p in body["phases"]] == ["completed"] * len(PHASES)
    assert body["nextUserAction"] == {"action": "none", "phase": None}

    report = admin_client.get(f"/api/campaigns/{campaign.pk}/report").json()
    assert report["counts"]["domains"] == 40
    assert report["counts"]["dns"]["resolved"] == len(fetched)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM campaigns_domainscore WHERE campaign_id = %s AND keyword_matched", [campaign.pk]
        )
        assert report["keywordMatches"] == cursor.fetchone()[0]
    assert report["topLeads"][0]["score"] >= report["topLeads"][-1]["score"]

    csv_response = admin_client.get(f"/api/campaigns/{campaign.pk}/report.csv")
    lines = streamed_text(csv_response).strip().splitlines()
    assert lines[0].startswith("rank,domain,score")
    assert len(lines) == 41
