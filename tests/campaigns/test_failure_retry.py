"""Failure → retry → success (reference 000): exact event sequence, selectors, gating, mode switch."""

import pytest

from campaigns.models import DnsPersona, DnsResult
from orchestration import metrics

from ..helpers import wait_until
from .factories import (
    DEAD_PORT,
    configured_campaign,
    dns_persona,
    http_persona,
    phase_events,
    phase_status,
    wait_phase,
    wait_status,
)

pytestmark = pytest.mark.django_db(transaction=True)


def failing_campaign(tenant, http_server, *, mode="full_sequence"):
    """DNS points at a port where nothing answers: every lookup fails, every batch fails, the phase fails."""
    dns = dns_persona(tenant, DEAD_PORT, timeout_seconds=0.3)
    campaign = configured_campaign(
        tenant, dns=dns, http=http_persona(tenant, http_server.port), mode=mode, num_domains=20, batch_size=10
    )
    return campaign, dns


def fix(dns: DnsPersona, port: int) -> None:
    DnsPersona.objects.filter(pk=dns.pk).update(nameservers=[f"127.0.0.1:{port}"])


def test_failure_then_retry_resumes_the_chain_with_the_exact_event_sequence(
    celery_worker, dns_server, http_server, tenant, admin_client
):
    campaign, dns = failing_campaign(tenant, http_server)
    failures = metrics.value("relay_phase_failures_total", phase="dns_validation")

    assert admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start").status_code == 202
    wait_status(campaign, "failed")

    body = admin_client.get(f"/api/campaigns/{campaign.pk}").json()
    assert body["lastFailedPhase"] == "dns_validation"
    assert body["retryEligiblePhases"] == ["dns_validation", "http_keyword_validation", "analysis"]
    assert body["nextUserAction"] == {"action": "retry_phase", "phase": "dns_validation"}
    assert (body["pipelineState"], body["pausedReason"]) == ("paused", "phase_failed")
    assert "resolvers_unreachable" in body["phases"][1]["error"]
    wait_until(lambda: metrics.value("relay_phase_failures_total", phase="dns_validation") == failures + 1)

    gated = admin_client.post(f"/api/campaigns/{campaign.pk}/phases/http_keyword_validation/start")
    assert gated.status_code == 409
    assert (gated.json()["error"]["code"], gated.json()["retryPhase"]) == ("retry_required", "dns_validation")

    fix(dns, dns_server.port)
    assert admin_client.post(f"/api/campaigns/{campaign.pk}/phases/dns_validation/start").status_code == 202
    wait_status(campaign, "completed")

    assert phase_events(campaign) == [
        ("phase_started", "domain_generation"),
        ("phase_completed", "domain_generation"),
        ("phase_auto_started", "dns_validation"),
        ("phase_failed", "dns_validation"),
        ("phase_started", "dns_validation"),
        ("phase_completed", "dns_validation"),
        ("phase_auto_started", "http_keyword_validation"),
        ("phase_completed", "http_keyword_validation"),
        ("phase_auto_started", "analysis"),
        ("phase_completed", "analysis"),
        ("campaign_completed", None),
    ]
    assert DnsResult.objects.filter(campaign=campaign).count() == 20
    body = admin_client.get(f"/api/campaigns/{campaign.pk}").json()
    assert (body["lastFailedPhase"], body["retryEligiblePhases"]) == (None, [])


def test_switching_to_step_by_step_before_the_retry_stops_the_chain_after_it(
    celery_worker, dns_server, http_server, tenant, admin_client
):
    campaign, dns = failing_campaign(tenant, http_server)
    admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start")
    wait_status(campaign, "failed")

    assert (
        admin_client.patch(f"/api/campaigns/{campaign.pk}/mode", {"mode": "step_by_step"}, format="json").status_code
        == 200
    )
    fix(dns, dns_server.port)
    admin_client.post(f"/api/campaigns/{campaign.pk}/phases/dns_validation/start")
    wait_phase(campaign, "dns_validation", "completed")
    wait_status(campaign, "idle")

    assert phase_status(campaign, "http_keyword_validation") == "not_started"
    types = [t for t, _ in phase_events(campaign)]
    assert types == [
        "phase_started",
        "phase_completed",
        "phase_auto_started",
        "phase_failed",
        "phase_started",
        "phase_completed",
    ]
    body = admin_client.get(f"/api/campaigns/{campaign.pk}").json()
    assert body["nextUserAction"] == {"action": "start_phase", "phase": "http_keyword_validation"}
    assert body["pipelineState"] == "awaiting_start"


def test_a_retry_while_the_phase_is_still_running_is_a_conflict(dns_server, http_server, tenant, admin_client):
    # A queue no worker consumes: the phase stays in progress for as long as the test needs.
    campaign = configured_campaign(
        tenant,
        dns=dns_persona(tenant, dns_server.port),
        http=http_persona(tenant, http_server.port),
        queue="tests-campaigns-idle",
    )
    assert admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start").status_code == 202

    again = admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start")
    later = admin_client.post(f"/api/campaigns/{campaign.pk}/phases/dns_validation/start")

    assert again.status_code == later.status_code == 409
    assert again.json()["error"]["code"] == "phase_running"
    assert again.json()["runningPhase"] == "domain_generation"
