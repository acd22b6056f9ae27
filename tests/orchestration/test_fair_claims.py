"""Claims come in fair order: tenants alternate, a newcomer starts at the head, interactive work goes
first, retried work keeps its place, and no tenant runs more than its cap. Claims are made here, in
the test process, exactly as a worker's drain makes them."""

import threading

import pytest
from django.db import connection, transaction

from orchestration import diagnostics, fairness, stages
from orchestration.claims import jobs_claim
from orchestration.ending import Outcome, job_end
from orchestration.models import Job, JobState, Priority, Stage

from .engine import probe

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "tests-fair"


def tenant_stage(group: str, count: int, *, priority: int = Priority.BULK, ref: str = "") -> Stage:
    with transaction.atomic():
        stage = stages.stage_create(
            kind=diagnostics.STAGE_KIND, ref=ref or f"fair-{group}", fairness_key=group, priority=priority
        )
        stages.stage_start_round(
            stage=stage, jobs=[probe(f"fair:{ref or group}:{i}", queue=QUEUE, noop=True) for i in range(count)]
        )
    return stage


def claim_groups(n: int) -> list[str]:
    claimed: list[str] = []
    for _ in range(n):
        jobs = jobs_claim(queue=QUEUE, limit=1)
        if not jobs:
            break
        claimed.append(jobs[0].group_key)
        job_end(job=jobs[0], outcome=Outcome(result=None), token=jobs[0].lease_owner)
    return claimed


def test_two_backlogs_alternate_one_job_each(db):
    tenant_stage("tenant:a", 50)
    tenant_stage("tenant:b", 50)
    order = claim_groups(20)
    assert order == ["tenant:a", "tenant:b"] * 10


def test_a_newcomer_is_served_at_once_not_behind_the_backlog(db):
    tenant_stage("tenant:big", 2000)
    claim_groups(100)  # the big tenant has been running for a while
    tenant_stage("tenant:small", 5)
    order = claim_groups(12)
    assert order.count("tenant:small") == 5
    assert order.index("tenant:small") <= 1
    assert "tenant:small" not in order[10:], "the newcomer's five jobs interleave within the first ten claims"


def test_an_idle_tenant_saves_up_no_credit(db):
    tenant_stage("tenant:steady", 500)
    tenant_stage("tenant:early", 1, ref="early")
    claim_groups(300)  # early's one job ran long ago; steady kept going
    tenant_stage("tenant:early", 200, ref="early-burst")
    order = claim_groups(40)
    # The returning tenant shares from now on; it does not get 300 claims in a row for having waited.
    assert 15 <= order.count("tenant:early") <= 25


def test_interactive_work_is_claimed_before_bulk_work(db):
    tenant_stage("tenant:bulk", 100)
    tenant_stage("tenant:scan", 3, priority=Priority.INTERACTIVE)
    assert claim_groups(4) == ["tenant:scan", "tenant:scan", "tenant:scan", "tenant:bulk"]


def test_a_retried_job_keeps_its_place(db):
    tenant_stage("tenant:a", 10)
    first = jobs_claim(queue=QUEUE, limit=1)[0]
    tenant_stage("tenant:b", 10)
    from orchestration.errors import JobError

    job_end(job=first, outcome=Outcome(error=JobError("try again", code="flaky")), token=first.lease_owner)
    Job.objects.filter(pk=first.pk).update(available_at=first.created_at)  # its backoff has passed
    again = jobs_claim(queue=QUEUE, limit=1)[0]
    assert again.pk == first.pk and again.attempts == 2


def test_a_tenant_never_runs_more_than_its_cap(db):
    fairness.max_running_set(group_key="tenant:capped", max_running=2)
    tenant_stage("tenant:capped", 20)
    tenant_stage("tenant:free", 20)
    claimed = jobs_claim(queue=QUEUE, limit=10)
    groups = [job.group_key for job in claimed]
    assert groups.count("tenant:capped") == 2 and groups.count("tenant:free") == 8
    more = jobs_claim(queue=QUEUE, limit=5)
    assert [job.group_key for job in more] == ["tenant:free"] * 5


def test_a_cap_of_zero_holds_a_tenants_work(db):
    fairness.max_running_set(group_key="tenant:held", max_running=0)
    tenant_stage("tenant:held", 5)
    assert jobs_claim(queue=QUEUE, limit=5) == []
    fairness.max_running_set(group_key="tenant:held", max_running=None)
    assert len(jobs_claim(queue=QUEUE, limit=5)) == 5


def test_concurrent_claimers_never_exceed_a_cap(db):
    fairness.max_running_set(group_key="tenant:race", max_running=3)
    tenant_stage("tenant:race", 100)
    claimed: list[int] = []
    barrier = threading.Barrier(8)

    def claimer() -> None:
        try:
            barrier.wait()
            claimed.extend(job.pk for job in jobs_claim(queue=QUEUE, limit=2))
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 3
    assert Job.objects.filter(state=JobState.RUNNING, group_key="tenant:race").count() == 3
