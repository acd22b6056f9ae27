"""The life of jobs on a worker: drain a queue, run each claimed job outside any transaction, end them.

A drain claims as many due jobs as this process expects to finish within one flush window
(`END_FLUSH_SECONDS`, priced with the durations it measured per stage: short jobs come many per claim,
a long one or one of a stage not measured yet alone, so a long job never holds others back; see
`claims.Budget`), runs them one after the other and
records their ends together (`ending.jobs_end`: one transaction per flush). A flush is due when the
claimed jobs are done or when the oldest unrecorded end has waited a flush window, checked before
every job, so an end waits behind at most one job that turned out slower than its kind usually is.

Every claimed job's lease is held (renewed) from the claim until its end has committed, so the sweeper
cannot take a job back while its end is on its way; a database error at the end is retried, never
dropped.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, InterfaceError, OperationalError, connection

from . import claims, dispatch, job_metrics, leases, metrics
from .conf import engine_setting
from .ending import STALE, UNSETTLED, Outcome, jobs_end
from .errors import JobError
from .models import Job
from .origin import job_context, job_log_context
from .registry import job_kind

logger = logging.getLogger(__name__)

PACE_WEIGHT = 0.2  # weight of the newest duration in a queue's moving average


class Pace:
    """This process's moving average of job durations per stage (the jobs of a stage do the same work):
    what a claim can take (`claims.Budget`). Bounded: the stages seen longest ago are forgotten."""

    REMEMBERED = 4096

    def __init__(self) -> None:
        self._seconds: OrderedDict[int, float] = OrderedDict()

    def expected(self, stage_id: int) -> float | None:
        return self._seconds.get(stage_id)

    def budget(self) -> claims.Budget:
        return claims.Budget(seconds=engine_setting("END_FLUSH_SECONDS"), known=self._seconds)

    def all_long(self, jobs: list[Job]) -> bool:
        """Every job's stage is measured at a flush window or more."""
        window = engine_setting("END_FLUSH_SECONDS")
        return all((self.expected(job.stage_id) or 0.0) >= window for job in jobs)

    def measured(self, stage_id: int, seconds: float) -> None:
        previous = self._seconds.pop(stage_id, None)
        self._seconds[stage_id] = seconds if previous is None else previous + PACE_WEIGHT * (seconds - previous)
        if len(self._seconds) > self.REMEMBERED:
            self._seconds.popitem(last=False)


pace = Pace()


def queue_drain(queue: str) -> list[str]:
    """Claim and run due jobs of `queue` until none is claimable or the time slice is over (then ring
    once more, so that another drain carries on and this process can serve its other queues).
    Returns the keys of the jobs it ran."""
    deadline = time.monotonic() + engine_setting("DRAIN_SLICE_SECONDS")
    ran: list[str] = []
    most = int(engine_setting("CLAIM_BATCH"))
    limit = most
    while True:
        dispatch.drain_looked(queue)
        try:
            jobs = claims.jobs_claim(queue=queue, limit=limit, budget=pace.budget())
        except DatabaseError:
            # Nothing was claimed (the claim is one transaction); the reconciler rings again.
            logger.warning("engine.claim_failed queue=%s", queue, exc_info=True)
            metrics.incr("relay_claim_failures_total", queue=queue)
            discard_broken_connection(force=True)
            return ran
        if not jobs:
            return ran
        ran += jobs_run(jobs)
        # A claim row-locks its candidates (four per job asked for): after jobs measured too long to
        # share a flush window, ask for two, so a queue of long jobs is not scanned 200 rows deep per
        # claim; after short or unmeasured ones, for a full batch (one other tenant's first job, not
        # measured yet and so claimed alone, must not shrink the batches of a stream of short jobs).
        limit = min(2, most) if pace.all_long(jobs) else most
        if time.monotonic() > deadline:
            dispatch.ring(queue, wanted=1)
            return ran


def job_claim(job_id: int) -> Job | None:
    """Claim one named job (an operator's "run now", the engine's tests); `queued` only."""
    return claims.job_claim_named(job_id)


def job_execute(job_id: int) -> str:
    """Claim one named job and run it end to end. Returns what happened."""
    job = job_claim(job_id)
    if job is None:
        logger.info("engine.job_skip job=%s reason=not_queued", job_id)
        return "skipped"
    return job_run(job)


def job_run(job: Job) -> str:
    """Run one claimed job and end it. Returns its new state."""
    states = _run_claimed([job])
    return states.get(job.pk, UNSETTLED)


def jobs_run(jobs: list[Job]) -> list[str]:
    """Run claimed jobs one after the other, ending them in flushes. Returns the keys of those run."""
    _run_claimed(jobs)
    return [job.key for job in jobs]


def _run_claimed(jobs: list[Job]) -> dict[int, str]:
    for job in jobs:
        leases.hold(job.lease_owner)  # every claimed job, also those that wait their turn
    window = engine_setting("END_FLUSH_SECONDS")
    pending: list[tuple[Job, Outcome, float, float]] = []  # ran, end not recorded yet; began, ran until
    states: dict[int, str] = {}
    try:
        for job in jobs:
            if pending and time.monotonic() - pending[0][3] >= window:
                states.update(_flush(pending))
                pending = []
            if leases.keeper.told_to_stop(job.lease_owner) and not _still_ours(job):
                states[job.pk] = STALE  # taken back while it waited its turn: its end would be refused
                continue
            began = time.monotonic()
            with job_context(job):
                outcome = _call_handler(job)
            ran_at = time.monotonic()
            pace.measured(job.stage_id, ran_at - began)
            pending.append((job, outcome, began, ran_at))
        states.update(_flush(pending))
    finally:
        for job in jobs:
            leases.release(job.lease_owner)
    return states


def _still_ours(job: Job) -> bool:
    return Job.objects.filter(pk=job.pk, state="running", lease_owner=job.lease_owner).exists()


def _flush(pending: list[tuple[Job, Outcome, float, float]]) -> dict[int, str]:
    if not pending:
        return {}
    states = jobs_end_durably([(job, outcome) for job, outcome, _, _ in pending])
    ended_at = time.monotonic()
    result: dict[int, str] = {}
    for (job, outcome, began, _), state in zip(pending, states, strict=True):
        result[job.pk] = state
        job_metrics.job_ran(job, state=state, seconds=ended_at - began)  # from its start to its end committed
        _log_end(job, outcome, state=state, seconds=ended_at - began)
    return result


def _log_end(job: Job, outcome: Outcome, *, state: str, seconds: float) -> None:
    """A failed attempt at INFO; a success at DEBUG only (one line per job would cost a bulk run of
    no-op jobs a good share of its throughput)."""
    if outcome.error is None and not logger.isEnabledFor(logging.DEBUG):
        return
    with job_log_context(job):
        _log_end_line(job, outcome, state=state, seconds=seconds)


def _log_end_line(job: Job, outcome: Outcome, *, state: str, seconds: float) -> None:
    if outcome.error is not None:
        logger.info(
            "engine.job_end job=%s key=%s kind=%s attempt=%s state=%s code=%s message=%s",
            job.pk,
            job.key,
            job.kind,
            job.attempts,
            state,
            outcome.error.code,
            outcome.error.message,
        )
    else:
        logger.debug(
            "engine.job_end job=%s key=%s kind=%s attempt=%s state=%s seconds=%.3f",
            job.pk,
            job.key,
            job.kind,
            job.attempts,
            state,
            seconds,
        )


def _call_handler(job: Job) -> Outcome:
    try:
        return Outcome(result=job_kind(job.kind).run(job))
    except JobError as exc:
        return Outcome(error=exc)
    except SoftTimeLimitExceeded:
        return Outcome(error=JobError("the job ran past its time limit", code="time_limit"))
    except Exception as exc:  # a bug or an unexpected failure: retried like a transient error
        logger.exception("engine.job_crash job=%s key=%s attempt=%s", job.pk, job.key, job.attempts)
        return Outcome(error=JobError(f"{type(exc).__name__}: {exc}", code="unhandled_exception"))


def jobs_end_durably(entries: list[tuple[Job, Outcome]]) -> list[str]:
    """`ending.jobs_end`, tried again while the database is unreachable (a restart, a failover, a
    killed connection) for up to `END_RETRY_SECONDS`; the lease keeper renews the leases meanwhile. If
    the database stays away the jobs are left `running`: their leases run out and the sweeper
    recovers them."""
    deadline = time.monotonic() + engine_setting("END_RETRY_SECONDS")
    pause = 0.2
    while True:
        try:
            return jobs_end(entries)
        except (OperationalError, InterfaceError):
            discard_broken_connection(force=True)
            keys = ",".join(job.key for job, _ in entries[:5])
            if time.monotonic() > deadline:
                logger.exception("engine.job_end_failed jobs=%s keys=%s", len(entries), keys)
                return [UNSETTLED] * len(entries)
            logger.warning("engine.job_end_retry jobs=%s keys=%s", len(entries), keys, exc_info=True)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def job_end_durably(*, job: Job, outcome: Outcome) -> str:
    return jobs_end_durably([(job, outcome)])[0]


def discard_broken_connection(*, force: bool = False) -> None:
    """Drop this thread's database connection if it is dead (after a PostgreSQL restart or a
    `pg_terminate_backend`), so that the next query opens a new one instead of failing forever."""
    if connection.connection is None or connection.in_atomic_block:
        return
    if force or not connection.is_usable():
        try:
            connection.close()
        except Exception:
            connection.connection = None
