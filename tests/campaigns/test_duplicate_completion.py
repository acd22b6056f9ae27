"""Duplicate completion deliveries and concurrent finalisers start the next phase exactly once."""

import threading

import pytest
from django.db import connection, transaction

from campaigns import chain
from campaigns.models import CampaignPhase
from orchestration.fanin import finalise_if_complete
from orchestration.models import Event, Job
from orchestration.runner import job_execute

from .factories import configured_campaign, dns_persona, http_persona

pytestmark = pytest.mark.django_db(transaction=True)


def test_duplicate_deliveries_and_concurrent_advances_start_the_next_phase_once(tenant, dns_server, http_server):
    campaign = configured_campaign(
        tenant,
        dns=dns_persona(tenant, dns_server.port),
        http=http_persona(tenant, http_server.port),
        queue="tests-campaigns-idle",
    )
    from campaigns.services.phases import phase_start

    phase_start(campaign=campaign, phase="domain_generation", actor=None)
    generation = CampaignPhase.objects.get(campaign=campaign, phase="domain_generation")
    job_ids = list(Job.objects.filter(stage=generation.stage).values_list("pk", flat=True))
    for job_id in job_ids:  # run the batches here, as a worker would
        assert job_execute(job_id) == "succeeded"

    # Every duplicate path after the real completion: re-delivered messages, a second finaliser,
    # and two concurrent "advance after generation" calls.
    assert [job_execute(job_id) for job_id in job_ids] == ["skipped"] * len(job_ids)
    with transaction.atomic():
        assert finalise_if_complete(stage_id=generation.stage_id, round=1) is False
    results: list[bool] = []

    def advance() -> None:
        try:
            with transaction.atomic():
                results.append(chain.phase_advance(campaign_id=campaign.pk, completed_phase="domain_generation"))
        finally:
            connection.close()

    threads = [threading.Thread(target=advance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [False, False]
    assert Event.objects.filter(stream=campaign.stream, type="phase_auto_started").count() == 1
    dns = CampaignPhase.objects.get(campaign=campaign, phase="dns_validation")
    assert dns.status == "in_progress" and dns.stage.round == 1 and dns.attempts == 1
    assert Job.objects.filter(stage=dns.stage).count() == 4
