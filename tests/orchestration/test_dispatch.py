"""Jobs are published after commit with the job key as task id; a broker outage loses nothing."""

import time

import pytest
from django.db import transaction

from orchestration import diagnostics, dispatch, stages
from orchestration.dispatch import relay_queued_jobs
from orchestration.models import Job, JobState

from ..helpers import wait_until
from .engine import PRIVATE_QUEUE, finalised, probe, start_stage

pytestmark = pytest.mark.django_db(transaction=True)


class BrokerDown(ConnectionRefusedError):
    pass


def test_nothing_is_published_before_commit_and_the_task_id_is_the_job_key(db, monkeypatch):
    sent: list[tuple[str, list[int]]] = []
    monkeypatch.setattr(
        dispatch.current_app, "send_task", lambda name, args, task_id, **kw: sent.append((task_id, args))
    )
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref="dispatch-commit")
        stages.stage_start_round(stage=stage, jobs=[probe("dispatch:a"), probe("dispatch:b")])
        assert sent == []
    job_ids = dict(Job.objects.values_list("key", "id"))
    assert sorted(sent) == [("dispatch:a", [job_ids["dispatch:a"]]), ("dispatch:b", [job_ids["dispatch:b"]])]


def test_a_rolled_back_transaction_publishes_nothing_and_leaves_no_job(db, monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(dispatch.current_app, "send_task", lambda name, args, task_id, **kw: sent.append(task_id))
    with pytest.raises(RuntimeError), transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref="dispatch-rollback")
        stages.stage_start_round(stage=stage, jobs=[probe("dispatch:rolled-back")])
        raise RuntimeError("the domain changed its mind")
    assert sent == [] and not Job.objects.filter(key="dispatch:rolled-back").exists()


def test_a_broker_outage_at_commit_time_loses_no_job(celery_worker, monkeypatch):
    def broker_down(*args, **kwargs):
        raise BrokerDown("Error 111 connecting to the broker")

    with monkeypatch.context() as patch:
        patch.setattr(dispatch.current_app, "producer_or_acquire", broker_down)
        stage = start_stage([probe(f"outage:{i}") for i in range(5)], ref="dispatch-outage")

    time.sleep(1)
    assert set(Job.objects.filter(stage=stage).values_list("state", flat=True)) == {JobState.QUEUED}
    assert all(diagnostics.probe_runs(f"outage:{i}") == 0 for i in range(5))

    # The broker is back; the relay (a beat task) finds the jobs whose message never arrived.
    wait_until(lambda: relay_queued_jobs() == 5, timeout=20, interval=0.5, message="relay republished")
    done = wait_until(lambda: finalised(stage), message="stage finalised")

    assert done.succeeded == 5
    assert all(diagnostics.probe_runs(f"outage:{i}") == 1 for i in range(5))


def test_the_relay_leaves_jobs_alone_while_their_messages_wait_in_the_broker(db, monkeypatch):
    start_stage(
        [probe("relay:backlog", queue=PRIVATE_QUEUE)], ref="relay-backlog"
    )  # published: the message is in Redis
    Job.objects.filter(key="relay:backlog").update(published_at="2000-01-01T00:00:00Z")
    monkeypatch.setattr(dispatch, "_queue_is_empty", lambda queue: False)

    assert relay_queued_jobs() == 0


def test_the_relay_publishes_a_due_delayed_retry(db, monkeypatch):
    sent: list[str] = []
    start_stage([probe("relay:due", queue=PRIVATE_QUEUE)], ref="relay-due")
    Job.objects.filter(key="relay:due").update(published_at=None)
    monkeypatch.setattr(dispatch.current_app, "send_task", lambda name, args, task_id, **kw: sent.append(task_id))

    assert relay_queued_jobs() == 1
    assert sent == ["relay:due"]
