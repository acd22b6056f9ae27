"""A campaign batch whose claim was taken away (a zombie worker) writes nothing: no generated domains,
no DNS results; the same code with a claim that holds writes its rows."""

import pytest

from campaigns import jobs as campaign_jobs
from campaigns.models import DnsResult, GeneratedDomain
from orchestration import fencing
from orchestration.models import Job
from orchestration.runner import job_claim

from ..orchestration.engine import PRIVATE_QUEUE, probe, start_stage, zombie_of
from .factories import configured_campaign, dns_persona, http_persona

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_zombie_campaign_batch_writes_no_domains_and_no_dns_results(tenant, dns_server, http_server):
    from campaigns.services.phases import phase_start

    dns = dns_persona(tenant, dns_server.port)
    campaign = configured_campaign(
        tenant,
        dns=dns,
        http=http_persona(tenant, http_server.port),
        num_domains=20,
        batch_size=10,
        queue=PRIVATE_QUEUE,
        mode="step_by_step",
    )
    phase_start(campaign=campaign, phase="domain_generation", actor=None)
    first, second = Job.objects.filter(key__startswith=f"campaign:{campaign.pk}:domain_generation:").order_by("id")
    start_stage([probe("fence:campaign", queue=PRIVATE_QUEUE)], ref="fence-campaign")
    zombie = zombie_of(Job.objects.get(key="fence:campaign").pk)

    with pytest.raises(fencing.LeaseLost):
        campaign_jobs.generate_batch(first.payload, zombie)
    assert not GeneratedDomain.objects.filter(campaign=campaign).exists()

    live = job_claim(second.pk)  # the same code with a claim that holds writes its rows
    campaign_jobs.run_batch(live)
    assert GeneratedDomain.objects.filter(campaign=campaign).count() == 10

    payload = {"campaign": str(campaign.pk), "first": 10, "stop": 20, "config": {"personaIds": [str(dns.pk)]}}
    result = campaign_jobs.resolve_batch(payload, zombie)
    assert result["lookups"] == 10  # the zombie did the network work...
    assert not DnsResult.objects.filter(campaign=campaign).exists()  # ...and wrote nothing
