"""Doorbells after commit, never before; a lost doorbell loses nothing: the reconciler rings again."""

import pytest
from django.db import transaction

from orchestration import diagnostics, dispatch, stages
from orchestration.dispatch import reconcile
from orchestration.models import Job, JobState
from orchestration.runner import queue_drain

from ..helpers import wait_until
from .engine import PRIVATE_QUEUE, finalised, probe, start_stage

pytestmark = pytest.mark.django_db(transaction=True)


class BrokerDown(ConnectionRefusedError):
    pass


def recorded_bells(monkeypatch) -> list[tuple[str, list[str], str]]:
    sent: list[tuple[str, list[str], str]] = []
    monkeypatch.setattr(
        dispatch.current_app, "send_task", lambda name, args, queue, **kw: sent.append((name, args, queue))
    )
    monkeypatch.setattr(dispatch, "get_redis", lambda: type("R", (), {"llen": lambda self, q: 0})())
    return sent


def test_doorbells_ring_after_commit_and_name_only_the_queue(db, monkeypatch):
    sent = recorded_bells(monkeypatch)
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref="dispatch-commit")
        stages.stage_start_round(stage=stage, jobs=[probe("dispatch:a"), probe("dispatch:b", queue=PRIVATE_QUEUE)])
        assert sent == []
    assert sorted(sent) == [
        (dispatch.DRAIN_TASK, ["jobs"], "jobs"),
        (dispatch.DRAIN_TASK, [PRIVATE_QUEUE], PRIVATE_QUEUE),
    ]


def test_a_large_enqueue_rings_a_bounded_number_of_bells(db, monkeypatch):
    sent = recorded_bells(monkeypatch)
    start_stage([probe(f"dispatch:many:{i}", queue=PRIVATE_QUEUE) for i in range(1000)], ref="dispatch-many")
    assert len(sent) == 16  # BELLS_MAX: enough to wake the workers, not one message per job


def test_a_rolled_back_transaction_rings_nothing_and_leaves_no_job(db, monkeypatch):
    sent = recorded_bells(monkeypatch)
    with pytest.raises(RuntimeError), transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref="dispatch-rollback")
        stages.stage_start_round(stage=stage, jobs=[probe("dispatch:rolled-back")])
        raise RuntimeError("the domain changed its mind")
    assert sent == [] and not Job.objects.filter(key="dispatch:rolled-back").exists()


def test_a_broker_outage_at_commit_time_loses_no_job(worker_factory, monkeypatch):
    queue = "tests-dispatch-outage"
    worker_factory(concurrency=1, queues=queue)

    def broker_down(*args, **kwargs):
        raise BrokerDown("Error 111 connecting to the broker")

    with monkeypatch.context() as patch:
        patch.setattr(dispatch.current_app, "producer_or_acquire", broker_down)
        stage = start_stage([probe(f"outage:{i}", queue=queue) for i in range(5)], ref="dispatch-outage")

    assert set(Job.objects.filter(stage=stage).values_list("state", flat=True)) == {JobState.QUEUED}
    assert all(diagnostics.probe_runs(f"outage:{i}") == 0 for i in range(5))

    # The broker is back; a reconciler (this one, or the control lane's tick) sees due jobs that no
    # drain looks at and rings: nothing else would, the commit's bells were lost.
    done = wait_until(lambda: reconcile() is not None and finalised(stage), interval=0.5, message="stage finalised")

    assert done.succeeded == 5
    assert all(diagnostics.probe_runs(f"outage:{i}") == 1 for i in range(5))


def test_the_reconciler_leaves_a_queue_alone_while_drains_look_at_it(db, monkeypatch):
    start_stage([probe("reconcile:busy", queue=PRIVATE_QUEUE)], ref="reconcile-busy")
    dispatch.drain_looked(PRIVATE_QUEUE)
    assert PRIVATE_QUEUE not in reconcile()


def test_a_doorbell_for_an_empty_queue_runs_nothing(db):
    assert queue_drain("tests-nothing-here") == []
