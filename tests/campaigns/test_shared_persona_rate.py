"""A persona's rate limit holds across every worker process: a campaign whose batches run in two
worker processes at once sends at most the DNS persona's rate of queries to its nameserver, and at
most the HTTP persona's rate of requests to the site, counted where they arrive. Each query type is a
query (two per name here) and each redirect hop a request (two per fetch here)."""

from __future__ import annotations

import pytest

from campaigns.services.phases import phase_start
from orchestration.models import Job

from .counting_servers import counting_dns, counting_http
from .factories import configured_campaign, dns_persona, http_persona, wait_status

pytestmark = pytest.mark.django_db(transaction=True)

RATE = 20
DOMAINS = 40
BATCH = 5


def test_two_worker_processes_together_keep_each_personas_rate(celery_worker, tenant):
    with counting_dns() as dns, counting_http() as http:
        campaign = configured_campaign(
            tenant,
            dns=dns_persona(tenant, dns.port, rate_limit_per_second=RATE, concurrency=50, query_types=["A", "AAAA"]),
            http=http_persona(tenant, http.port, rate_limit_per_second=RATE, concurrency=50),
            num_domains=DOMAINS,
            batch_size=BATCH,
        )
        phase_start(campaign=campaign, phase="domain_generation", actor=None)
        wait_status(campaign, "completed", timeout=180)

    assert len(dns.times) >= 2 * DOMAINS and len(http.times) >= 2 * DOMAINS
    workers = set(
        Job.objects.filter(payload__campaign=str(campaign.pk), payload__phase="dns_validation").values_list(
            "worker", flat=True
        )
    )
    assert len(workers) == 2, workers  # both pool processes ran DNS batches
    # GCRA lets one request through at once; a one-second window may hold RATE + 1.
    assert dns.peak() <= RATE + 1, dns.peak()
    assert http.peak() <= RATE + 1, http.peak()
