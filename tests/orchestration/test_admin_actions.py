"""The job admin's "Quarantine" and "Re-queue" actions, driven as an operator through the changelist:
they call the engine's services, and a refusal is shown as the API's 409 with nothing changed."""

import pytest
from django.db import transaction

from orchestration import diagnostics, stages
from orchestration.models import Job, JobState, Stage
from orchestration.runner import job_claim

from ..admin_actions import act, admin_browser, staff
from ..helpers import wait_until
from .engine import PRIVATE_QUEUE, finalised, probe, start_stage

pytestmark = pytest.mark.django_db(transaction=True)

JOBS = "/admin/orchestration/job/"


def paused_stage(key: str) -> Stage:
    """A stage whose job waits `pending` on the shared worker's queue: no worker takes it before the
    actions say so."""
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref=key, stream=f"diag:{key}")
        stages.stage_start_round(stage=stage, jobs=[probe(key)])
        stages.stage_pause(stage=stage)
    return stage


def test_an_operator_quarantines_a_job_and_re_queues_it_and_it_runs(celery_worker, platform_admin):
    stage = paused_stage("admin:held")
    held = Job.objects.get(key="admin:held")
    client = admin_browser(platform_admin)

    shown = act(client, JOBS, "quarantine_jobs", [held])

    assert shown == [f"{held.key} [{JobState.PENDING}]: quarantined."], shown
    with transaction.atomic():
        assert stages.stage_resume(stage=stage) == 0  # a resume leaves a quarantined job alone
    assert Job.objects.get(pk=held.pk).state == JobState.QUARANTINED

    shown = act(client, JOBS, "requeue_jobs", [Job.objects.get(pk=held.pk)])

    assert shown == [f"{held.key} [{JobState.QUARANTINED}]: re-queued."], shown
    done = wait_until(lambda: finalised(stage), message="the re-queued job ran")
    assert done.succeeded == 1 and diagnostics.probe_runs("admin:held") == 1


def test_jobs_in_the_wrong_state_show_the_refusal_and_nothing_changes(db, platform_admin):
    start_stage([probe("admin:queued", queue=PRIVATE_QUEUE)], ref="admin-wrong")
    running = job_claim(Job.objects.get(key="admin:queued").pk)  # as a worker would
    assert running is not None
    before = Job.objects.filter(pk=running.pk).values().get()
    client = admin_browser(platform_admin)

    quarantined = act(client, JOBS, "quarantine_jobs", [running])
    requeued = act(client, JOBS, "requeue_jobs", [running])

    assert len(quarantined) == 1 and "(409 job_not_quarantinable)" in quarantined[0], quarantined
    assert "only queued, pending or failed jobs can be quarantined" in quarantined[0]
    assert len(requeued) == 1 and "(409 job_not_requeueable)" in requeued[0], requeued
    assert Job.objects.filter(pk=running.pk).values().get() == before


def test_a_tenants_staff_user_gets_the_apis_403_and_nothing_changes(db, tenant_admin):
    start_stage([probe("admin:tenant", queue=PRIVATE_QUEUE)], ref="admin-tenant")
    queued = Job.objects.get(key="admin:tenant")
    client = admin_browser(staff(tenant_admin, "view_job", "change_job"))

    shown = act(client, JOBS, "quarantine_jobs", [queued])

    assert len(shown) == 1 and "(403 permission_denied)" in shown[0], shown
    assert Job.objects.get(pk=queued.pk).state == JobState.QUEUED
