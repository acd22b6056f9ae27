"""Workers dying mid-phase: a SIGKILLed pool process, and a whole-stack restart with auto-resume on
and off. Every domain ends up processed exactly once (one result row each, by the unique keys)."""

import os
import signal
from collections.abc import Iterator

import pytest
from django.db import connection

from campaigns.loopback.process import Server, start_dns_server
from campaigns.models import CampaignPhase, CampaignSettings, DnsResult, GeneratedDomain, PhaseStatus
from campaigns.models.campaign import PausedReason
from campaigns.services.campaigns import campaign_create
from campaigns.services.recovery import candidates
from orchestration import metrics
from orchestration.job_actions import job_quarantine
from orchestration.models import Event, Job, JobState
from orchestration.recovery import recover_expired_jobs

from ..helpers import wait_until
from ..orchestration.engine import PRIVATE_QUEUE, finalised, probe, start_stage
from .factories import configured_campaign, dns_persona, http_persona, phase_status, wait_phase, wait_status

pytestmark = pytest.mark.django_db(transaction=True)

N = 60
BATCH = 10


@pytest.fixture(scope="module")
def slow_dns() -> Iterator[Server]:
    """Answers after 0.25 s: with two lookups at a time a DNS batch takes over a second, long enough to kill."""
    server = start_dns_server(args=["--nxdomain-every", "5", "--delay", "0.25"])
    yield server
    server.stop()


def slow_campaign(tenant, slow_dns, http_server, queue):
    dns = dns_persona(tenant, slow_dns.port, concurrency=2, timeout_seconds=3)
    return configured_campaign(
        tenant, dns=dns, http=http_persona(tenant, http_server.port), num_domains=N, batch_size=BATCH, queue=queue
    )


def running_dns_batch(campaign) -> Job | None:
    return (
        Job.objects.filter(key__startswith=f"campaign:{campaign.pk}:dns_validation:", state=JobState.RUNNING)
        .exclude(worker="")
        .first()
    )


def assert_processed_exactly_once(campaign) -> None:
    domains = GeneratedDomain.objects.filter(campaign=campaign)
    assert domains.count() == N
    assert domains.values("name").distinct().count() == N
    results = DnsResult.objects.filter(campaign=campaign)
    assert results.count() == N
    assert results.values("domain_id").distinct().count() == N
    assert results.values("seq").distinct().count() == N


def test_a_sigkilled_worker_mid_phase_loses_nothing_and_duplicates_nothing(
    worker_factory, slow_dns, http_server, tenant, admin_client
):
    queue = "tests-campaigns-kill"
    worker_factory(concurrency=1, queues=queue)
    worker_factory(concurrency=1, queues=queue)
    campaign = slow_campaign(tenant, slow_dns, http_server, queue)
    admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start")
    job = wait_until(lambda: running_dns_batch(campaign), timeout=60, message="a DNS batch running")

    os.kill(int(job.worker.rsplit(":", 1)[1]), signal.SIGKILL)  # the pool process dies mid-batch

    wait_until(
        lambda: recover_expired_jobs() > 0 or Job.objects.get(pk=job.pk).state != JobState.RUNNING,
        timeout=30,
        interval=0.5,
        message="lost batch handed back",
    )
    wait_status(campaign, "completed", timeout=180)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED and job.attempts == 2
    assert_processed_exactly_once(campaign)
    assert Event.objects.filter(stream=campaign.stream, type="campaign_completed").count() == 1
    # One lost batch went back in its place; the phase itself was never paused (auto-resume is on).
    assert not Event.objects.filter(stream=campaign.stream, type="phase_paused").exists()


def restart_mid_dns(worker_factory, campaign, admin_client, queue):
    """A whole-stack restart inside the lease window: the killed worker's leases (120 s) are still
    running when the new worker starts, as after a quick restart. Returns (new worker, kill time on
    PostgreSQL's clock)."""
    first = worker_factory(concurrency=1, queues=queue, env={"RELAY_JOB_LEASE_SECONDS": "120"})
    admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start")
    wait_until(
        lambda: (
            Job.objects.filter(
                key__startswith=f"campaign:{campaign.pk}:dns_validation:", state=JobState.SUCCEEDED
            ).exists()
            and running_dns_batch(campaign)
        ),
        timeout=60,
        message="DNS half way",
    )
    first.kill()  # the whole worker, as in a stack restart
    killed_at = database_now()
    dns_jobs = Job.objects.filter(key__startswith=f"campaign:{campaign.pk}:dns_validation:")
    states = sorted(dns_jobs.values_list("key", "state"))
    assert dns_jobs.filter(state=JobState.QUEUED).exists(), f"queued batches wait when the stack goes down: {states}"
    return worker_factory(concurrency=1, queues=queue), killed_at  # recovers before it takes any work


def database_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def test_restart_with_auto_resume_on_resumes_in_progress_phases(
    worker_factory, slow_dns, http_server, tenant, admin_client
):
    queue = "tests-campaigns-restart-on"
    campaign = slow_campaign(tenant, slow_dns, http_server, queue)
    resumes = metrics.value("relay_phase_resumes_total", phase="dns_validation")

    restart_mid_dns(worker_factory, campaign, admin_client, queue)

    wait_status(campaign, "completed", timeout=180)
    types = [
        (e.type, e.payload.get("phase"), e.payload.get("reason"))
        for e in Event.objects.filter(stream=campaign.stream).order_by("seq")
    ]
    # Paused and persisted before anything ran again: by the engine's sweep of the lost batch
    # (`worker_lost`) or by rehydrate finding the phase first (`restart`), whichever came first.
    paused_at = next(
        i
        for i, event in enumerate(types)
        if event[:2] == ("phase_paused", "dns_validation") and event[2] in ("restart", "worker_lost")
    )
    assert types[paused_at + 1] == ("phase_resumed", "dns_validation", None)
    assert_processed_exactly_once(campaign)
    wait_until(lambda: metrics.value("relay_phase_resumes_total", phase="dns_validation") == resumes + 1)


def test_restart_with_auto_resume_off_leaves_the_phase_paused_until_resumed(
    worker_factory, slow_dns, http_server, tenant, admin_client
):
    CampaignSettings.objects.update_or_create(pk=1, defaults={"auto_resume_on_restart": False})
    queue = "tests-campaigns-restart-off"
    campaign = slow_campaign(tenant, slow_dns, http_server, queue)

    _, killed_at = restart_mid_dns(worker_factory, campaign, admin_client, queue)

    wait_phase(campaign, "dns_validation", "paused", timeout=30)
    # The new worker is consuming its queue (a probe on it runs through) ...
    probe_stage = start_stage([probe("restart-off:probe", queue=queue)], ref="restart-off-probe")
    wait_until(lambda: finalised(probe_stage), timeout=60, message="the new worker took work")
    # ... and not one batch of the paused phase was claimed since the kill, queued ones included.
    dns_jobs = Job.objects.filter(key__startswith=f"campaign:{campaign.pk}:dns_validation:")
    assert not dns_jobs.filter(started_at__gt=killed_at).exists()
    assert not dns_jobs.filter(state__in=[JobState.QUEUED, JobState.RUNNING]).exists()
    assert phase_status(campaign, "dns_validation") == "paused"
    body = admin_client.get(f"/api/campaigns/{campaign.pk}").json()
    assert (body["status"], body["pipelineState"]) == ("paused", "paused")
    assert body["pausedReason"] in ("restart", "worker_lost")
    assert body["nextUserAction"] == {"action": "resume_phase", "phase": "dns_validation"}

    assert admin_client.post(f"/api/campaigns/{campaign.pk}/phases/dns_validation/resume").status_code == 200
    wait_status(campaign, "completed", timeout=180)
    assert_processed_exactly_once(campaign)


def test_a_crashed_phase_is_a_candidate_however_many_phases_people_paused(tenant):
    people_paused = [campaign_create(tenant=tenant, name=f"paused {i}") for i in range(150)]
    CampaignPhase.objects.filter(campaign__in=people_paused, phase="domain_generation").update(
        status=PhaseStatus.PAUSED, paused_reason=PausedReason.USER
    )
    crashed = campaign_create(tenant=tenant, name="crashed")
    CampaignPhase.objects.filter(campaign=crashed, phase="domain_generation").update(
        status=PhaseStatus.IN_PROGRESS, updated_at="2000-01-01T00:00:00Z"
    )
    crashed_phase = CampaignPhase.objects.get(campaign=crashed, phase="domain_generation")

    assert candidates(limit=100) == [crashed_phase.pk]  # no live batch at all: lost


def test_rehydrate_leaves_phases_people_paused_alone_and_reports_a_missing_config_as_phase_fatal(
    slow_dns, http_server, tenant, admin_client
):
    from campaigns.models import PhaseConfig
    from campaigns.services.recovery import rehydrate

    paused = slow_campaign(tenant, slow_dns, http_server, "tests-campaigns-idle")
    admin_client.post(f"/api/campaigns/{paused.pk}/phases/domain_generation/start")
    admin_client.post(f"/api/campaigns/{paused.pk}/phases/domain_generation/pause")
    broken = slow_campaign(tenant, slow_dns, http_server, "tests-campaigns-idle")
    admin_client.post(f"/api/campaigns/{broken.pk}/phases/domain_generation/start")
    PhaseConfig.objects.filter(campaign=broken, phase="domain_generation").delete()
    # Its worker died holding the batches (a phase whose batches are merely queued is healthy).
    Job.objects.filter(key__startswith=f"campaign:{broken.pk}:domain_generation:").update(
        state=JobState.RUNNING, lease_owner="dead-worker", lease_expires_at="2000-01-01T00:00:00Z"
    )

    report = rehydrate(after_restart=True)  # as a worker starting up runs it

    # A phase a person paused is not recovery's to touch (issue 15: candidates are phases lost to a crash).
    assert report.candidates == 1
    assert report.left_paused == []
    assert [(label, kind) for label, kind, _ in report.errors] == [
        (str(broken.phases.get(phase="domain_generation").pk), "phase_fatal")
    ] or report.errors[0][1] == "phase_fatal"
    assert phase_status(paused, "domain_generation") == "paused"
    assert phase_status(broken, "domain_generation") == "paused"  # persisted paused, waits for a person


def test_a_batch_lost_on_every_attempt_fails_its_phase_and_the_chain_halts(
    monkeypatch, slow_dns, http_server, tenant, admin_client
):
    """Played in this process on a queue no worker consumes: the other batches run here, and one
    batch's worker "dies" on every attempt (claimed, lease long expired, swept)."""
    from orchestration import leases
    from orchestration.errors import WORKER_LOST
    from orchestration.runner import job_claim, job_execute

    monkeypatch.setattr(leases, "hold", lambda token: None)  # no renewal thread for in-process batches
    campaign = slow_campaign(tenant, slow_dns, http_server, "tests-campaigns-idle")
    type(campaign).objects.filter(pk=campaign.pk).update(mode="full_sequence")
    assert admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start").status_code == 202
    batches = list(Job.objects.filter(key__startswith=f"campaign:{campaign.pk}:domain_generation:").order_by("id"))
    killer, others = batches[0], batches[1:]
    for job in others:
        assert job_execute(job.pk) == JobState.SUCCEEDED

    attempts = 0
    while Job.objects.get(pk=killer.pk).state == JobState.QUEUED:
        assert job_claim(killer.pk) is not None
        Job.objects.filter(pk=killer.pk).update(lease_expires_at="2000-01-01T00:00:00Z")
        assert recover_expired_jobs() == 1
        attempts += 1
        assert attempts <= 10, "the lost batch loops"

    killer.refresh_from_db()
    assert (killer.state, killer.error_code, killer.attempts) == (JobState.FAILED, WORKER_LOST, attempts)
    assert phase_status(campaign, "domain_generation") == "failed"
    assert phase_status(campaign, "dns_validation") == "not_started"  # the chain halted
    assert not Event.objects.filter(stream=campaign.stream, type="phase_paused").exists()


def test_a_phase_whose_batch_an_operator_quarantined_is_waiting_not_lost(tenant):
    def phase_in_progress(name: str, key: str) -> CampaignPhase:
        campaign = campaign_create(tenant=tenant, name=name)
        stage = start_stage([probe(key, queue=PRIVATE_QUEUE)], ref=name)
        CampaignPhase.objects.filter(campaign=campaign, phase="domain_generation").update(
            status=PhaseStatus.IN_PROGRESS, stage=stage
        )
        return CampaignPhase.objects.get(campaign=campaign, phase="domain_generation")

    held = phase_in_progress("held", "recovery:held")
    lost = phase_in_progress("lost", "recovery:lost")
    assert candidates(limit=100) == []  # both batches queued: healthy

    job_quarantine(job_id=Job.objects.get(key="recovery:held").pk)
    # The other batch disappears from the live set the way a crash leaves it: no queued or running job.
    Job.objects.filter(key="recovery:lost").update(state=JobState.PENDING)

    assert candidates(limit=100) == [lost.pk]
    assert held.pk not in candidates(limit=100)
