"""Batch claims and batch ends: many jobs per claim and per ending transaction, the same guarantees."""

from __future__ import annotations

import pytest
from django.db import transaction

from orchestration import claims, diagnostics, stages
from orchestration.errors import WORKER_LOST
from orchestration.models import Event, Job, JobState, Stage
from orchestration.recovery import recover_expired_jobs
from orchestration.registry import JobKind, register_job_kind
from orchestration.runner import Pace, jobs_run

from ..helpers import wait_until
from .engine import PRIVATE_QUEUE, finalised, probe, start_stage

BAD_END = "tests.bad_end"


def _bad_on_end(job: Job) -> None:
    if job.payload.get("bad"):
        raise RuntimeError("a domain bug in on_end")


register_job_kind(JobKind(name=BAD_END, run=diagnostics.run_probe, on_end=_bad_on_end, queue=PRIVATE_QUEUE))


def finalised_events(stage: Stage) -> int:
    return Event.objects.filter(stream=stage.stream, type="stage_finalised").count()


def test_one_claim_and_one_flush_end_a_whole_stage_and_finalise_it_once(db):
    stage = start_stage([probe(f"flush:{i}", queue=PRIVATE_QUEUE) for i in range(10)], ref="flush")
    jobs = claims.jobs_claim(queue=PRIVATE_QUEUE, limit=50)
    assert len(jobs) == 10

    jobs_run(jobs)

    done = finalised(stage)
    assert done is not None and (done.succeeded, done.total) == (10, 10)
    assert finalised_events(stage) == 1
    assert set(Job.objects.filter(stage=stage).values_list("state", "lease_owner")) == {(JobState.SUCCEEDED, "")}


def test_a_flush_of_two_stages_counts_each_in_its_own_round(db):
    first = start_stage([probe(f"two:a:{i}", queue=PRIVATE_QUEUE) for i in range(3)], ref="two-a")
    second = start_stage(
        [probe(f"two:b:{i}", queue=PRIVATE_QUEUE, fatal=(i == 0)) for i in range(2)], ref="two-b", max_attempts=1
    )
    jobs_run(claims.jobs_claim(queue=PRIVATE_QUEUE, limit=50))

    a, b = finalised(first), finalised(second)
    assert a is not None and (a.succeeded, a.errored) == (3, 0)
    assert b is not None and (b.succeeded, b.errored) == (1, 1)
    assert finalised_events(first) == finalised_events(second) == 1


def test_a_job_taken_back_while_it_waited_its_turn_is_not_run_and_not_counted(db):
    stage = start_stage([probe(f"taken:{i}", queue=PRIVATE_QUEUE) for i in range(3)], ref="taken")
    jobs = claims.jobs_claim(queue=PRIVATE_QUEUE, limit=50)
    # The sweeper takes the last one back (its lease ran out) before this worker reaches it.
    Job.objects.filter(pk=jobs[-1].pk).update(lease_expires_at="2000-01-01T00:00:00Z")
    assert recover_expired_jobs() == 1
    from orchestration import leases

    leases.keeper.hold(jobs[-1].lease_owner)
    leases.keeper.renew_now()  # the renewal finds that lease gone

    jobs_run(jobs)

    assert diagnostics.probe_runs("taken:2") == 0
    stage.refresh_from_db()
    assert (stage.succeeded, stage.finalised_at) == (2, None)
    assert Job.objects.get(key="taken:2").state == JobState.QUEUED


def test_a_domain_bug_in_one_on_end_costs_that_job_alone(db):
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref="bad-end", stream="diag:bad-end")
        stages.stage_start_round(
            stage=stage,
            jobs=[
                stages.JobSpec(key=f"bad-end:{i}", kind=BAD_END, payload={"bad": i == 1}, queue=PRIVATE_QUEUE)
                for i in range(4)
            ],
        )
    jobs = claims.jobs_claim(queue=PRIVATE_QUEUE, limit=50)
    assert len(jobs) == 4

    jobs_run(jobs)

    states = dict(Job.objects.filter(stage=stage).values_list("key", "state"))
    assert states == {
        "bad-end:0": JobState.SUCCEEDED,
        "bad-end:1": JobState.RUNNING,  # left to the sweeper: its lease runs out
        "bad-end:2": JobState.SUCCEEDED,
        "bad-end:3": JobState.SUCCEEDED,
    }
    stage.refresh_from_db()
    assert (stage.succeeded, stage.finalised_at) == (3, None)


def test_a_claim_takes_short_jobs_many_at_a_time_and_a_long_or_unknown_one_alone(db):
    # Three stages in claim order; the middle one's jobs were measured long, the others short.
    short = start_stage([probe(f"mixed:short:{i}", queue=PRIVATE_QUEUE) for i in range(3)], ref="mixed-short")
    long = start_stage([probe(f"mixed:long:{i}", queue=PRIVATE_QUEUE) for i in range(2)], ref="mixed-long")
    tail = start_stage([probe(f"mixed:tail:{i}", queue=PRIVATE_QUEUE) for i in range(3)], ref="mixed-tail")
    measured = {short.pk: 0.001, long.pk: 1.0, tail.pk: 0.001}
    budget = claims.Budget(seconds=0.05, known=measured)

    def claim(with_budget: claims.Budget) -> list[str]:
        return [job.key for job in claims.jobs_claim(queue=PRIVATE_QUEUE, limit=50, budget=with_budget)]

    assert claim(budget) == [f"mixed:short:{i}" for i in range(3)]  # the long one does not fit behind them
    assert claim(budget) == ["mixed:long:0"]  # alone, although over the budget: the first always comes
    assert claim(budget) == ["mixed:long:1"]
    assert claim(budget) == [f"mixed:tail:{i}" for i in range(3)]
    start_stage([probe(f"unknown:{i}", queue=PRIVATE_QUEUE) for i in range(2)], ref="unknown")
    assert claim(budget) == ["unknown:0"]  # a stage not measured yet: as if long


def test_a_stage_measured_as_short_becomes_cheap_and_a_slow_spell_makes_it_dear():
    pace = Pace()
    assert pace.expected(1) is None
    pace.measured(1, 0.001)
    assert pace.expected(1) == pytest.approx(0.001)
    for _ in range(30):
        pace.measured(1, 2.0)
    assert pace.expected(1) == pytest.approx(2.0, rel=0.01)
    for stage_id in range(2, Pace.REMEMBERED + 2):
        pace.measured(stage_id, 0.1)
    assert pace.expected(1) is None  # forgotten: the longest ago seen


@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_with_a_batch_claimed_loses_no_job_and_ends_none_twice(worker_factory):
    """SIGKILL between claim and end: the jobs that ran but whose ends were not flushed, and those that
    waited their turn, come back after their leases run out; every job ends once, the round once."""
    queue = "tests-batch-killer"
    worker_factory(concurrency=1, queues=queue)
    warm = start_stage([probe(f"warm:{i}", queue=queue, noop=True) for i in range(20)], ref="warm")
    wait_until(lambda: finalised(warm), timeout=60, message="warm-up stage done")  # the drain now claims many
    jobs = [probe(f"batch:{i}", queue=queue) for i in range(12)]
    jobs.insert(6, probe("batch:killer", queue=queue, kill_worker=True))
    stage = start_stage(jobs, ref="batch-killer", max_attempts=2)

    def swept_to_the_end() -> Stage | None:
        recover_expired_jobs()
        return finalised(stage)

    done = wait_until(swept_to_the_end, timeout=90, interval=0.5, message="stage finalised after the kills")
    assert (done.succeeded, done.failed, done.total) == (12, 1, 13)
    killer = Job.objects.get(key="batch:killer")
    assert (killer.state, killer.error_code) == (JobState.FAILED, WORKER_LOST)
    assert finalised_events(stage) == 1
    assert Job.objects.filter(stage=stage).exclude(state__in=[JobState.SUCCEEDED, JobState.FAILED]).count() == 0


@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_its_flush_is_uncommitted_ends_each_job_once_and_finalises_once(worker_factory):
    """SIGKILL between a job's end and the commit of its flush (the counters and the finaliser are in
    that transaction): the whole flush rolls back, its jobs come back, and the round finalises once."""
    queue = "tests-end-killer"
    worker_factory(concurrency=1, queues=queue)
    jobs = [probe(f"end-killer:{i}", queue=queue) for i in range(6)]
    jobs[-1] = probe("end-killer:last", queue=queue, kill_worker_at_end=True)  # the round's last end
    stage = start_stage(jobs, ref="end-killer", max_attempts=3)

    def swept_to_the_end() -> Stage | None:
        recover_expired_jobs()
        return finalised(stage)

    done = wait_until(swept_to_the_end, timeout=90, interval=0.5, message="stage finalised after the kill")
    assert (done.succeeded, done.total) == (6, 6)
    assert finalised_events(stage) == 1
    assert diagnostics.probe_runs("end-killer:last") == 2  # its first end was rolled back with the worker
