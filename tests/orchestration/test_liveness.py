"""Dead lease holders on this host are told apart from live ones without waiting for their leases."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from django.utils import timezone

from orchestration.liveness import dead_local_holders, leases_expire_of_dead_local_holders
from orchestration.models import Job, JobState
from orchestration.runner import job_claim

from .engine import PRIVATE_QUEUE, probe, start_stage

HOST = socket.gethostname()


def a_dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def held(key: str, *, worker: str, claimed_at=None) -> Job:
    stage = start_stage([probe(key, queue=PRIVATE_QUEUE)], ref=key)
    job = Job.objects.get(stage=stage)
    assert job_claim(job.pk) is not None
    Job.objects.filter(pk=job.pk).update(worker=worker, started_at=claimed_at or timezone.now())
    return Job.objects.get(pk=job.pk)


def test_only_holders_of_this_host_whose_process_is_gone_are_dead(db):
    dead = held("live:dead", worker=f"{HOST}:{a_dead_pid()}")
    alive = held("live:alive", worker=f"{HOST}:{os.getpid()}")
    reused = held("live:reused", worker=f"{HOST}:{os.getpid()}-x")  # not a pid: not judged
    elsewhere = held("live:elsewhere", worker=f"another-host:{a_dead_pid()}")

    assert dead_local_holders() == [dead.worker]
    assert leases_expire_of_dead_local_holders() == 1

    expired = {job.key for job in Job.objects.filter(state=JobState.RUNNING, lease_expires_at__lte=timezone.now())}
    assert expired == {"live:dead"}
    for job in (alive, reused, elsewhere):
        job.refresh_from_db()
        assert job.lease_expires_at is not None and job.lease_expires_at > timezone.now()


def test_a_pid_reused_by_a_process_started_after_the_claim_is_a_dead_holder(db):
    # This test process was created long after 2000: whoever claimed then under our pid is gone.
    old = held("live:pid-reused", worker=f"{HOST}:{os.getpid()}", claimed_at="2000-01-01T00:00:00Z")
    assert dead_local_holders() == [old.worker]
