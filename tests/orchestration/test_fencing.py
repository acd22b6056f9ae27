"""Fencing to the end: a worker whose job was taken away (a zombie) writes nothing, in the engine and
in every domain; its renewer tells it at once; its lease is held until its end commits."""

import pytest
from django.db import connection

from orchestration import fencing, leases
from orchestration.models import Job, JobState
from orchestration.runner import job_claim
from orchestration.stages import job_should_stop

from .engine import PRIVATE_QUEUE, probe, start_stage, zombie_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_fenced_writes_of_a_zombie_change_nothing(db):
    start_stage([probe("fence:engine", queue=PRIVATE_QUEUE)], ref="fence")
    zombie = zombie_of(Job.objects.get(key="fence:engine").pk)

    with pytest.raises(fencing.LeaseLost), fencing.fenced(zombie):
        pytest.fail("the fenced block must not run")
    held, params = fencing.held_condition(zombie)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM (SELECT 1 WHERE {held}) AS w", params)
        assert cursor.fetchone()[0] == 0


def test_the_renewer_tells_a_zombie_to_stop_at_once(db):
    start_stage([probe("fence:renew", queue=PRIVATE_QUEUE)], ref="fence-renew")
    zombie = zombie_of(Job.objects.get(key="fence:renew").pk)
    leases.keeper.hold(zombie.lease_owner)
    try:
        assert leases.keeper.renew_now() == {zombie.lease_owner}
        assert leases.keeper.told_to_stop(zombie.lease_owner)
        assert job_should_stop(zombie)
    finally:
        leases.release(zombie.lease_owner)


def test_a_cancelled_jobs_lease_is_kept_while_its_worker_is_told_to_stop(db):
    from django.db import transaction

    from orchestration import cancel

    stage = start_stage([probe("fence:cancel", queue=PRIVATE_QUEUE)], ref="fence-cancel")
    running = job_claim(Job.objects.get(key="fence:cancel").pk)
    leases.keeper.hold(running.lease_owner)
    try:
        Job.objects.filter(pk=running.pk).update(lease_expires_at="2000-01-01T00:00:00Z")
        with transaction.atomic():
            outcome = cancel.stage_cancel(stage=stage)
        assert (outcome.jobs_cancelled, outcome.jobs_stopping, outcome.finalised) == (0, 1, False)
        assert leases.keeper.renew_now() == {running.lease_owner}
        assert leases.keeper.told_to_stop(running.lease_owner) and job_should_stop(running)
        job = Job.objects.get(pk=running.pk)
        assert job.state == JobState.RUNNING and job.lease_expires_at.year > 2000, "the lease is still renewed"
    finally:
        leases.release(running.lease_owner)
