"""Which lease holders are certainly dead: a worker starting on a host can tell, without waiting for the
leases to run out, that the jobs held by processes of this same host that no longer exist were lost.

A job records its holder as `host:pid` (`leases.worker_name`). On the same host, the holder is gone if
no process has that pid any more (or only its zombie), or if the process that has it now was created
after the job was claimed (the pid was reused: a restarted container counts its pids from 1 again). A process created
within `CLOCK_SKEW_SECONDS` of the claim is given the benefit of the doubt (its lease runs out as usual).

So after a whole-stack restart, the first worker to start expires the leases of the jobs the restart
lost on its host before it takes any work (`signals`), and restart recovery (`StageKind.on_worker_start`)
sees them lost before a single queued job of their stages can be claimed. Holders on other hosts are
judged by their leases alone.
"""

from __future__ import annotations

import logging
import socket
from datetime import datetime

import psutil
from django.db import connection

from .models import Job, JobState

logger = logging.getLogger(__name__)

CLOCK_SKEW_SECONDS = 5.0  # between this host's clock (process start) and PostgreSQL's (the claim)


def holder_is_dead(*, pid: int, claimed_at: datetime | None) -> bool:
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:  # killed, not reaped yet (an init that does not reap)
            return True
        created = process.create_time()
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # exists but cannot be inspected: not ours to judge
        return False
    return claimed_at is not None and created > claimed_at.timestamp() + CLOCK_SKEW_SECONDS


def dead_local_holders() -> list[str]:
    """Holders (`host:pid`) of running jobs on this host whose process is gone."""
    prefix = f"{socket.gethostname()}:"
    holders: dict[str, datetime | None] = {}
    for worker, started_at in Job.objects.filter(state=JobState.RUNNING, worker__startswith=prefix).values_list(
        "worker", "started_at"
    ):
        earliest = holders.get(worker)
        holders[worker] = started_at if earliest is None or (started_at and started_at < earliest) else earliest
    dead = []
    for worker, claimed_at in holders.items():
        pid = worker.rsplit(":", 1)[1]
        if pid.isdigit() and holder_is_dead(pid=int(pid), claimed_at=claimed_at):
            dead.append(worker)
    return dead


def leases_expire_of_dead_local_holders() -> int:
    """Let the leases of jobs held by dead processes of this host run out now. Returns how many."""
    dead = dead_local_holders()
    if not dead:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE orchestration_job SET lease_expires_at = now()
            WHERE state = 'running' AND worker = ANY(%s) AND lease_expires_at > now()
            """,
            [dead],
        )
        expired = cursor.rowcount
    logger.warning("engine.dead_holders holders=%s leases_expired=%s", ",".join(dead), expired)
    return expired
