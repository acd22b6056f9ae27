"""Fencing: a write that a job's handler makes before the job ends counts only while the job is
still held by the claim that started it. A worker whose job was taken away (its lease expired and the
sweeper re-queued it, or a cancel abandoned it) is a zombie: it may still be running, but every
fenced write it tries changes nothing, and its end is refused (`ending.job_end` is guarded the same
way).

Two forms, both taking the job row `FOR SHARE`, so a takeback (an `UPDATE` of that row) waits for the
write in flight and a write that comes after the takeback sees it:
- `fenced(job)`: a transaction for ORM or multi-statement writes; raises `LeaseLost` if not held;
- `held_condition(job)`: an SQL condition to put in one autocommitted statement
  (`INSERT … SELECT … WHERE <condition>`), for hot paths that write in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction

from .errors import JobError
from .models import Job

HELD = "EXISTS (SELECT 1 FROM orchestration_job WHERE id = %s AND state = 'running' AND lease_owner = %s FOR SHARE)"


class LeaseLost(JobError):
    """The job was taken away from this worker; its end will be refused too."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.key} is no longer held by this worker", code="lease_lost")


def held_condition(job: Job) -> tuple[str, list[Any]]:
    return HELD, [job.pk, job.lease_owner]


def still_held(job: Job) -> bool:
    """Lock the job row for the rest of the current transaction if this worker still holds it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {HELD}", [job.pk, job.lease_owner])
        row = cursor.fetchone()
    return bool(row and row[0])


@contextmanager
def fenced(job: Job) -> Iterator[None]:
    """A transaction whose writes commit only if the job is still this worker's."""
    with transaction.atomic():
        if not still_held(job):
            raise LeaseLost(job)
        yield
