"""Domains plug into the engine here; the engine imports no domain.

A domain registers, in its AppConfig.ready():
- a `JobKind` per kind of job: `run(job)` does the work outside any transaction and returns a JSON-able
  result or raises `JobError`; `on_end(job)` runs inside the transaction that ends the job (record the
  per-item outcome there, so job state and domain state commit together; `job.state` may be
  `cancelled`); `on_end_many(jobs)`, when given, replaces `on_end` for the jobs of this kind that one
  worker ends together (one flush), so a domain can record their outcomes in one statement; `retry`
  bounds its automatic retries; writes that `run` makes before its end go through
  `fencing.fenced(job)`, so a worker whose job was taken away writes nothing;
- a `StageKind` per kind of stage: `finalise(stage)` runs exactly once per round, inside the transaction
  of the job that ended it, and decides the domain's final status (it may open the next stage);
  `on_job_lost(job)` decides what happens to a job whose worker died; `rerun_ended_jobs` says whether an
  operator may re-queue a job of this kind of stage that ended `failed` (its jobs' `on_end` is then
  called again for the new attempt, so it must record the latest outcome over an earlier one).
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .models import Job, Stage


class LostAction(StrEnum):
    REQUEUE = "requeue"  # queue it again at once, in its old place; past its attempts, `failed` (`worker_lost`)
    RERUN = "rerun"  # the same, allowed one attempt more than `max_attempts` (the domain bounds it)
    PAUSE = "pause"  # park it as `pending` (the domain resumes it); past its attempts, `failed` too


def _requeue(job: Job) -> LostAction:
    return LostAction.REQUEUE


@dataclass(frozen=True)
class RetryPolicy:
    """Automatic retries of one kind of job. `max_attempts` (None: the stage's) counts every attempt,
    lost workers included; `max_delay_seconds` caps the backoff (an upstream's `Retry-After` may ask
    for more); past `deadline_seconds` since the job was created it is not retried again."""

    max_attempts: int | None = None
    max_delay_seconds: float | None = None
    deadline_seconds: float | None = None


@dataclass(frozen=True)
class JobKind:
    name: str
    run: Callable[[Job], Any]
    on_end: Callable[[Job], None] | None = None
    on_end_many: Callable[[list[Job]], None] | None = None
    queue: str = "jobs"
    retry: RetryPolicy = RetryPolicy()


@dataclass(frozen=True)
class StageKind:
    name: str
    finalise: Callable[[Stage], None]
    on_job_lost: Callable[[Job], LostAction] = _requeue
    # Restart recovery: runs when a worker starts, before the engine's start-up sweep, so the domain
    # sees the jobs the restart lost (leases run out, still `running`) before they are handed back.
    on_worker_start: Callable[[], None] | None = None
    # An operator's re-queue of a `failed` job (`job_actions.job_requeue`) ends it a second time: only
    # for domains whose `on_end` records the latest outcome (the others retry through their own service).
    rerun_ended_jobs: bool = False


_job_kinds: dict[str, JobKind] = {}
_stage_kinds: dict[str, StageKind] = {}


def register_job_kind(kind: JobKind) -> JobKind:
    _job_kinds[kind.name] = kind
    return kind


def register_stage_kind(kind: StageKind) -> StageKind:
    _stage_kinds[kind.name] = kind
    return kind


def stage_kinds() -> list[StageKind]:
    return list(_stage_kinds.values())


def job_kind(name: str) -> JobKind:
    try:
        return _job_kinds[name]
    except KeyError:
        raise LookupError(f"no job kind {name!r} is registered") from None


def stage_kind(name: str) -> StageKind:
    try:
        return _stage_kinds[name]
    except KeyError:
        raise LookupError(f"no stage kind {name!r} is registered") from None
