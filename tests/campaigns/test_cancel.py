"""Cancelling a campaign mid-phase: batches not started never run, the campaign ends `cancelled`
with one event, nothing starts again, a duplicate cancel changes nothing."""

from collections.abc import Iterator

import pytest

from campaigns.loopback.process import Server, start_dns_server
from campaigns.models import DnsResult
from orchestration.models import Event, Job, JobState

from ..helpers import wait_until
from .factories import configured_campaign, dns_persona, http_persona, phase_status, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def slow_dns() -> Iterator[Server]:
    server = start_dns_server(args=["--delay", "0.2"])
    yield server
    server.stop()


def test_cancel_mid_dns_phase(worker_factory, slow_dns, http_server, tenant, admin_client, member_client):
    queue = "tests-campaigns-cancel"
    worker_factory(concurrency=1, queues=queue)
    dns = dns_persona(tenant, slow_dns.port, concurrency=2, timeout_seconds=3)
    campaign = configured_campaign(
        tenant, dns=dns, http=http_persona(tenant, http_server.port), num_domains=60, batch_size=6, queue=queue
    )
    assert admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start").status_code == 202
    dns_jobs = Job.objects.filter(key__startswith=f"campaign:{campaign.pk}:dns_validation:")
    wait_until(lambda: dns_jobs.filter(state=JobState.RUNNING).exists(), timeout=60, message="DNS running")

    assert member_client.post(f"/api/campaigns/{campaign.pk}/cancel").status_code == 403
    response = admin_client.post(f"/api/campaigns/{campaign.pk}/cancel")
    assert response.status_code == 202, response.content

    wait_status(campaign, "cancelled", timeout=60)
    assert phase_status(campaign, "dns_validation") == "cancelled"
    assert phase_status(campaign, "http_keyword_validation") == "not_started"
    cancelled = dns_jobs.filter(state=JobState.CANCELLED)
    assert cancelled.count() >= 5, "most DNS batches were still queued"
    ran = {job.payload["batch"] for job in dns_jobs.filter(state=JobState.SUCCEEDED)}
    results = DnsResult.objects.filter(campaign=campaign).count()
    assert results <= len(ran) * 6, "only batches that started wrote results"
    assert not dns_jobs.filter(state__in=[JobState.QUEUED, JobState.RUNNING, JobState.PENDING]).exists()
    assert Event.objects.filter(stream=campaign.stream, type="campaign_cancelled").count() == 1

    again = admin_client.post(f"/api/campaigns/{campaign.pk}/cancel")
    assert again.status_code == 200
    start = admin_client.post(f"/api/campaigns/{campaign.pk}/phases/dns_validation/start")
    assert start.status_code == 409 and start.json()["error"]["code"] == "campaign_cancelled"
    assert Event.objects.filter(stream=campaign.stream, type="campaign_cancelled").count() == 1


def test_an_idle_campaign_is_cancelled_at_once(tenant, admin_client, dns_server, http_server):
    campaign = configured_campaign(
        tenant, dns=dns_persona(tenant, dns_server.port), http=http_persona(tenant, http_server.port)
    )
    assert admin_client.post(f"/api/campaigns/{campaign.pk}/cancel").status_code == 202
    campaign.refresh_from_db()
    assert campaign.status == "cancelled"
