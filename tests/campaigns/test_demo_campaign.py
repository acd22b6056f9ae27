"""`make run`'s demo: `devstack.demo.seed_demo` points demo personas at the loopback servers and stores a
configured campaign, which a signed-in demo user can start and watch complete."""

import io

import pytest
from rest_framework.test import APIClient

from campaigns.loopback.dns_server import ZoneRules, is_nxdomain
from campaigns.models import Campaign, DnsPersona, GeneratedDomain, HttpPersona, HttpResult
from devstack.demo import BROKEN_DNS_PERSONA, DEMO_CAMPAIGN, FAILING_CAMPAIGN, seed_demo

from .factories import wait_status

pytestmark = pytest.mark.django_db(transaction=True)


def seed(monkeypatch, dns_port: int, http_port: int) -> None:
    monkeypatch.setenv("RELAY_DEMO_PASSWORD", "demo-pass-123")
    monkeypatch.setenv("RELAY_DEMO_DNS", f"127.0.0.1:{dns_port}")
    monkeypatch.setenv("RELAY_DEMO_HTTP_PORT", str(http_port))
    seed_demo(io.StringIO())


def test_seeding_twice_keeps_one_campaign_and_moves_the_personas_to_the_new_ports(monkeypatch):
    seed(monkeypatch, 5301, 8101)
    seed(monkeypatch, 5302, 8102)

    assert Campaign.objects.filter(name=DEMO_CAMPAIGN).count() == 1
    assert DnsPersona.objects.get(name="Loopback DNS (demo)").nameservers == ["127.0.0.1:5302"]
    assert HttpPersona.objects.get(name="Loopback HTTP (demo)").port == 8102


def test_seeding_prints_its_progress_step_by_step_with_counts(monkeypatch):
    monkeypatch.setenv("RELAY_DEMO_PASSWORD", "demo-pass-123")
    monkeypatch.setenv("RELAY_DEMO_DNS", "127.0.0.1:5301")
    monkeypatch.setenv("RELAY_DEMO_HTTP_PORT", "8101")
    out = io.StringIO()

    seed_demo(out)

    # Each line ends with the time since seeding began: `(0.1s)`.
    steps = [line.rsplit(" (", 1)[0] for line in out.getvalue().splitlines() if line.startswith("  demo: ")]
    assert steps == [
        "  demo: tenant 'demo' created",
        "  demo: users 1/2 (admin created)",
        "  demo: users 2/2 (demo created)",
        "  demo: personas 2/2 (DNS 127.0.0.1:5301, HTTP port 8101)",
        f"  demo: campaign '{DEMO_CAMPAIGN}': phase configs 1/4 (domain_generation)",
        f"  demo: campaign '{DEMO_CAMPAIGN}': phase configs 2/4 (dns_validation)",
        f"  demo: campaign '{DEMO_CAMPAIGN}': phase configs 3/4 (http_keyword_validation)",
        f"  demo: campaign '{DEMO_CAMPAIGN}': phase configs 4/4 (analysis)",
    ], out.getvalue()


def test_with_a_broken_resolver_a_second_campaign_asks_it_and_reseeding_points_it_back(monkeypatch):
    monkeypatch.setenv("RELAY_DEMO_DNS_BROKEN", "127.0.0.1:5399")
    seed(monkeypatch, 5301, 8101)
    failing = Campaign.objects.get(name=FAILING_CAMPAIGN)
    broken = DnsPersona.objects.get(name=BROKEN_DNS_PERSONA)
    assert failing.mode == "full_sequence"
    assert failing.phase_configs.get(phase="dns_validation").config["personaIds"] == [str(broken.pk)]
    assert broken.nameservers == ["127.0.0.1:5399"]

    DnsPersona.objects.filter(pk=broken.pk).update(nameservers=["127.0.0.1:5301"])  # the walkthrough's fix
    seed(monkeypatch, 5301, 8101)
    assert Campaign.objects.filter(name=FAILING_CAMPAIGN).count() == 1
    assert DnsPersona.objects.get(pk=broken.pk).nameservers == ["127.0.0.1:5399"]


def test_without_the_loopback_servers_no_campaign_is_seeded(monkeypatch):
    monkeypatch.delenv("RELAY_DEMO_DNS", raising=False)
    monkeypatch.setenv("RELAY_DEMO_PASSWORD", "demo-pass-123")
    seed_demo(io.StringIO())
    assert not Campaign.objects.exists()


def test_the_demo_user_starts_the_demo_campaign_and_it_completes(monkeypatch, celery_worker, dns_server, http_server):
    seed(monkeypatch, dns_server.port, http_server.port)
    client = APIClient()
    token = client.post("/api/auth/login", {"username": "demo", "password": "demo-pass-123"}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    campaign = Campaign.objects.get(name=DEMO_CAMPAIGN)
    detail = client.get(f"/api/campaigns/{campaign.pk}").json()
    assert detail["mode"] == "full_sequence"

    response = client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start")

    assert response.status_code == 202, response.content
    wait_status(campaign, "completed")
    names = list(GeneratedDomain.objects.filter(campaign=campaign).values_list("name", flat=True))
    assert len(names) == 1000
    resolving = [name for name in names if not is_nxdomain(name, ZoneRules(nxdomain_every=5))]
    assert HttpResult.objects.filter(campaign=campaign).count() == len(resolving)
    assert client.get(f"/api/campaigns/{campaign.pk}/report").status_code == 200
