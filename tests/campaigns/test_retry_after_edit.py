"""A phase's config is frozen when it first starts: an edit between a failure and the retry (batch
size, number of domains) changes nothing of the retry, which runs exactly the snapshot's remaining
ranges; `restart` discards the phase's results and runs the new config from scratch; an edit of a
running or paused phase is a 409.

The test process is the worker here (`job_execute` in process, on a queue no worker consumes), so it
decides which batches succeed and which fail."""

import pytest

from campaigns import jobs
from campaigns.models import CampaignPhase, DnsResult, GeneratedDomain, HttpResult
from campaigns.phases import PHASES
from orchestration import leases
from orchestration.errors import JobError
from orchestration.models import Job, JobState
from orchestration.runner import job_claim, job_execute

from ..orchestration.engine import PRIVATE_QUEUE, probe, start_stage
from .factories import configured_campaign, dns_persona, generation_config, http_persona, phase_status

pytestmark = pytest.mark.django_db(transaction=True)

IDLE_QUEUE = "tests-campaigns-idle"


@pytest.fixture(autouse=True)
def _no_lease_thread(monkeypatch):
    """Batches run in this process for well under a lease: no renewal thread outliving the test's database."""
    monkeypatch.setattr(leases, "hold", lambda token: None)


def batches(campaign, phase, **filters):
    stage = CampaignPhase.objects.get(campaign=campaign, phase=phase).stage
    jobs_ = Job.objects.filter(stage=stage, **filters)
    return sorted(jobs_, key=lambda job: job.payload["first"])


def run_queued(campaign, phase, limit=None):
    """Run the phase's queued batches in this process, lowest range first (at most `limit` of them)."""
    queued = batches(campaign, phase, state=JobState.QUEUED)[:limit]
    assert queued, f"no queued batch of {phase}"
    for job in queued:
        assert job_execute(job.pk) in (JobState.SUCCEEDED, JobState.ERROR)


def start(client, campaign, phase, **body):
    response = client.post(f"/api/campaigns/{campaign.pk}/phases/{phase}/start", body, format="json")
    assert response.status_code == 202, response.content
    return response


def put_config(client, campaign, phase, config):
    return client.put(f"/api/campaigns/{campaign.pk}/phases/{phase}/config", config, format="json")


def fail_the_rest(monkeypatch, campaign, phase):
    """Two batches succeed, then every other one errors: the phase fails half done."""
    run_queued(campaign, phase, limit=2)

    def broken(payload, job):
        raise JobError.fatal("injected failure", code="injected")

    with monkeypatch.context() as patch:
        patch.setitem(jobs._HANDLERS, jobs.Phase(phase), broken)
        run_queued(campaign, phase)
    assert phase_status(campaign, phase) == "failed"


def edited(phase, config):
    if phase == "domain_generation":
        return generation_config(num_domains=55, batch_size=25)
    return {**config, "batch_size": 25}


def results(phase, campaign):
    tables = {
        "domain_generation": GeneratedDomain.objects,
        "dns_validation": DnsResult.objects,
        "http_keyword_validation": HttpResult.objects,
    }
    return sorted(tables[phase].filter(campaign=campaign).values_list("seq", flat=True))


def half_failed_campaign(monkeypatch, client, tenant, dns_server, http_server, phase):
    campaign = configured_campaign(
        tenant,
        dns=dns_persona(tenant, dns_server.port),
        http=http_persona(tenant, http_server.port),
        mode="step_by_step",
        num_domains=40,
        batch_size=10,
        queue=IDLE_QUEUE,
    )
    for earlier in PHASES[: PHASES.index(phase)]:
        start(client, campaign, earlier)
        run_queued(campaign, earlier)
        assert phase_status(campaign, earlier) == "completed"
    start(client, campaign, phase)
    fail_the_rest(monkeypatch, campaign, phase)
    return campaign


def expected_seqs(phase, campaign):
    if phase == "http_keyword_validation":  # only resolved domains are fetched
        return sorted(DnsResult.objects.filter(campaign=campaign, status="resolved").values_list("seq", flat=True))
    return list(range(40))


@pytest.mark.parametrize("phase", ["domain_generation", "dns_validation", "http_keyword_validation"])
def test_a_retry_after_an_edit_runs_the_snapshots_remaining_ranges(
    monkeypatch, admin_client, tenant, dns_server, http_server, phase
):
    campaign = half_failed_campaign(monkeypatch, admin_client, tenant, dns_server, http_server, phase)
    config = admin_client.get(f"/api/campaigns/{campaign.pk}/phases/{phase}/config").json()["config"]
    assert put_config(admin_client, campaign, phase, edited(phase, config)).status_code == 200

    start(admin_client, campaign, phase)
    retried = [(job.payload["first"], job.payload["stop"]) for job in batches(campaign, phase, state=JobState.QUEUED)]
    run_queued(campaign, phase)

    assert phase_status(campaign, phase) == "completed"
    assert retried == [(20, 30), (30, 40)]  # the snapshot's size and total, from where it stopped
    seqs = results(phase, campaign)
    assert seqs == expected_seqs(phase, campaign)
    assert len(seqs) == len(set(seqs))
    assert batches(campaign, phase, state=JobState.SUCCEEDED)[-1].key.endswith(f":{phase}:30-40")


@pytest.mark.parametrize("phase", ["domain_generation", "dns_validation", "http_keyword_validation"])
def test_restart_discards_the_results_and_runs_the_new_config_from_scratch(
    monkeypatch, admin_client, tenant, dns_server, http_server, phase
):
    campaign = half_failed_campaign(monkeypatch, admin_client, tenant, dns_server, http_server, phase)
    config = admin_client.get(f"/api/campaigns/{campaign.pk}/phases/{phase}/config").json()["config"]
    assert put_config(admin_client, campaign, phase, edited(phase, config)).status_code == 200

    start(admin_client, campaign, phase, restart=True)
    ranges = [(job.payload["first"], job.payload["stop"]) for job in batches(campaign, phase, state=JobState.QUEUED)]
    run_queued(campaign, phase)

    assert phase_status(campaign, phase) == "completed"
    total = 55 if phase == "domain_generation" else 40
    assert ranges == [(first, min(first + 25, total)) for first in range(0, total, 25)]
    seqs = results(phase, campaign)
    assert seqs == (list(range(55)) if phase == "domain_generation" else expected_seqs(phase, campaign))
    snapshot = CampaignPhase.objects.get(campaign=campaign, phase=phase).config_snapshot
    assert snapshot is not None and snapshot["batch_size"] == 25


def test_editing_the_config_of_a_running_or_paused_phase_is_a_409(admin_client, tenant, dns_server, http_server):
    campaign = configured_campaign(
        tenant,
        dns=dns_persona(tenant, dns_server.port),
        http=http_persona(tenant, http_server.port),
        mode="step_by_step",
        queue=IDLE_QUEUE,
    )
    start(admin_client, campaign, "domain_generation")
    new = generation_config(num_domains=55, batch_size=25)

    running = put_config(admin_client, campaign, "domain_generation", new)
    assert running.status_code == 409
    assert running.json()["error"]["code"] == "phase_config_frozen"
    assert admin_client.delete(f"/api/campaigns/{campaign.pk}/phases/domain_generation/config").status_code == 409

    assert admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/pause").status_code == 200
    paused = put_config(admin_client, campaign, "domain_generation", new)
    assert (paused.status_code, paused.json()["error"]["code"]) == (409, "phase_config_frozen")

    stored = admin_client.get(f"/api/campaigns/{campaign.pk}/phases/domain_generation/config").json()["config"]
    assert (stored["num_domains"], stored["batch_size"]) == (40, 10)
    # A phase that has not started yet may still be edited.
    dns = admin_client.get(f"/api/campaigns/{campaign.pk}/phases/dns_validation/config").json()["config"]
    assert put_config(admin_client, campaign, "dns_validation", {**dns, "batch_size": 5}).status_code == 200


def test_a_generation_batch_over_a_partly_written_range_adds_only_what_is_missing(tenant, dns_server, http_server):
    campaign = configured_campaign(
        tenant, dns=dns_persona(tenant, dns_server.port), http=http_persona(tenant, http_server.port)
    )
    config = generation_config(num_domains=40, batch_size=10)
    payload = {"campaign": str(campaign.pk), "config": config}
    start_stage([probe("generate:held", queue=PRIVATE_QUEUE)], ref="generate-held")
    held = job_claim(Job.objects.get(key="generate:held").pk)  # writes are fenced by a claim that holds
    assert jobs.generate_batch({**payload, "first": 5, "stop": 15}, held) == {"generated": 10, "existing": 0}
    assert jobs.generate_batch({**payload, "first": 0, "stop": 20}, held) == {"generated": 10, "existing": 10}
    assert jobs.generate_batch({**payload, "first": 0, "stop": 20}, held) == {"generated": 0, "existing": 20}
    assert sorted(GeneratedDomain.objects.filter(campaign=campaign).values_list("seq", flat=True)) == list(range(20))
