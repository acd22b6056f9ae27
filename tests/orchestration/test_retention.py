"""Retention: finished history older than the retention age is deleted in batches; young and live rows stay."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_results.models import TaskResult

from orchestration import events, retention
from orchestration.models import Event, EventStream, Job, JobState, Stage, StageStatus
from scans.models import Scan, ScanStatus

from .engine import PRIVATE_QUEUE, probe, start_stage

pytestmark = pytest.mark.django_db

DAYS = 30


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def finished_stage(ref: str, *, finalised_days_ago: float, states=(JobState.SUCCEEDED, JobState.FAILED)) -> Stage:
    """A stage whose one round ended `finalised_days_ago` days ago, one job per state."""
    stage = start_stage([probe(f"{ref}:{n}", queue=PRIVATE_QUEUE) for n in range(len(states))], ref=ref)
    for job, state in zip(Job.objects.filter(stage=stage).order_by("key"), states, strict=True):
        Job.objects.filter(pk=job.pk).update(state=state, finished_at=days_ago(finalised_days_ago))
    Stage.objects.filter(pk=stage.pk).update(status=StageStatus.FINALISED, finalised_at=days_ago(finalised_days_ago))
    return stage


def job_keys(stage: Stage) -> list[str]:
    return list(Job.objects.filter(stage=stage).order_by("key").values_list("key", flat=True))


def engine_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The domains' pruners are tested with their domains: here only the engine's run."""
    monkeypatch.setattr(retention, "_pruners", {})


def test_finished_jobs_of_stages_finalised_before_the_cutoff_are_pruned_young_and_live_ones_stay(monkeypatch):
    engine_only(monkeypatch)
    old = finished_stage("old", finalised_days_ago=DAYS + 1)
    young = finished_stage("young", finalised_days_ago=DAYS - 1)
    live = start_stage([probe("live:0", queue=PRIVATE_QUEUE)], ref="live")  # running, its job queued
    # Finalised long ago, then reopened by a retry: its old round's finished jobs stay with it.
    reopened = finished_stage("reopened", finalised_days_ago=DAYS + 5)
    Stage.objects.filter(pk=reopened.pk).update(status=StageStatus.RUNNING, finalised_at=None)

    counts = retention.prune()

    assert counts["jobs"] == 2
    assert job_keys(old) == []
    assert job_keys(young) == ["young:0", "young:1"]
    assert job_keys(live) == ["live:0"] and Job.objects.get(key="live:0").state == JobState.QUEUED
    assert job_keys(reopened) == ["reopened:0", "reopened:1"]


def test_an_old_stage_goes_once_its_jobs_have_unless_a_domain_row_references_it(monkeypatch, tenant):
    engine_only(monkeypatch)
    orphan = finished_stage("orphan", finalised_days_ago=DAYS + 1)
    referenced = finished_stage("referenced", finalised_days_ago=DAYS + 1)
    Scan.objects.create(
        tenant=tenant, url="https://example.com", services=["x"], status=ScanStatus.COMPLETED, stage=referenced
    )
    young = finished_stage("young", finalised_days_ago=1)

    counts = retention.prune()

    assert counts["jobs"] == 4 and counts["stages"] == 1
    assert not Stage.objects.filter(pk=orphan.pk).exists()
    assert Stage.objects.filter(pk=referenced.pk).exists() and job_keys(referenced) == []
    assert Stage.objects.filter(pk=young.pk).exists()


def test_events_before_the_cutoff_are_pruned_and_the_stream_goes_on_without_a_gap(monkeypatch):
    engine_only(monkeypatch)
    for n in range(3):
        events.emit(stream="ret:a", type="tick", payload={"n": n})
    Event.objects.filter(stream="ret:a", seq__lte=2).update(created_at=days_ago(DAYS + 1))

    counts = retention.prune()

    assert counts["events"] == 2
    assert list(Event.objects.filter(stream="ret:a").values_list("seq", flat=True)) == [3]
    assert EventStream.objects.get(name="ret:a").last_seq == 3
    assert events.emit(stream="ret:a", type="tick").seq == 4


def test_celery_task_results_done_before_the_cutoff_are_pruned(monkeypatch):
    engine_only(monkeypatch)
    for task_id in ("old", "young"):
        TaskResult.objects.create(task_id=task_id, status="SUCCESS")
    TaskResult.objects.filter(task_id="old").update(date_done=days_ago(DAYS + 1))

    counts = retention.prune()

    assert counts["task_results"] == 1
    assert list(TaskResult.objects.values_list("task_id", flat=True)) == ["young"]


def test_one_pruner_call_deletes_at_most_one_batch_and_prune_goes_on_until_none_is_left(monkeypatch):
    engine_only(monkeypatch)
    for n in range(5):
        events.emit(stream="ret:batch", type="tick", payload={"n": n})
    Event.objects.filter(stream="ret:batch").update(created_at=days_ago(DAYS + 1))
    cutoff = retention.retention_cutoff()

    assert retention.events_prune(cutoff, 2) == 2
    assert Event.objects.filter(stream="ret:batch").count() == 3

    assert retention.prune(limit=2)["events"] == 3
    assert not Event.objects.filter(stream="ret:batch").exists()


def test_a_registered_pruner_runs_with_the_cutoff_and_the_batch_size(monkeypatch):
    engine_only(monkeypatch)
    calls = []

    def pruner(cutoff, limit):
        calls.append((cutoff, limit))
        return 0 if len(calls) > 2 else limit  # two full batches, then nothing left

    retention.register_pruner("tests.fake", pruner)

    counts = retention.prune(limit=7)

    assert counts["tests.fake"] == 14 and len(calls) == 3
    cutoff = calls[0][0]
    assert {limit for _, limit in calls} == {7} and {c for c, _ in calls} == {cutoff}
    assert abs((timezone.now() - timedelta(days=DAYS) - cutoff).total_seconds()) < 60


def test_a_pruner_that_raises_costs_only_itself_and_the_budget_ends_a_pass(monkeypatch):
    engine_only(monkeypatch)
    events.emit(stream="ret:raise", type="tick")
    Event.objects.filter(stream="ret:raise").update(created_at=days_ago(DAYS + 1))

    def broken(cutoff, limit):
        raise RuntimeError("boom")

    retention.register_pruner("tests.broken", broken)
    retention.register_pruner("tests.endless", lambda cutoff, limit: limit)

    counts = retention.prune(budget_seconds=0.2, limit=10)

    assert counts["tests.broken"] == 0 and counts["events"] == 1
    assert counts["tests.endless"] >= 10  # it never runs out: the budget ended the pass
    assert not Event.objects.filter(stream="ret:raise").exists()


def test_stream_forget_and_stage_forget_remove_what_the_engine_holds_for_an_object():
    stage = start_stage([probe("forget:0", queue=PRIVATE_QUEUE), probe("forget:1", queue=PRIVATE_QUEUE)], ref="f")
    events.emit(stream="ret:forget", type="tick")
    events.emit(stream="ret:keep", type="tick")

    assert retention.stream_forget("ret:forget") == 1
    assert retention.stage_forget(stage.pk) == 2

    assert not Event.objects.filter(stream="ret:forget").exists()
    assert not EventStream.objects.filter(name="ret:forget").exists()
    assert Event.objects.filter(stream="ret:keep").count() == 1
    assert not Stage.objects.filter(pk=stage.pk).exists() and not Job.objects.filter(key__startswith="forget:").exists()


def test_the_prune_task_is_routed_to_the_control_lane_and_ticks_hourly():
    from django.conf import settings

    assert settings.CELERY_TASK_ROUTES["orchestration.prune"] == {"queue": "control"}
    entry = settings.CELERY_BEAT_SCHEDULE["engine-prune"]
    assert entry["task"] == "orchestration.prune" and entry["schedule"] == 3600.0
    assert settings.RELAY_ENGINE["RETENTION_DAYS"] == 30 and settings.RELAY_ENGINE["RETENTION_BATCH"] == 1000


def test_the_task_prunes_with_every_registered_pruner():
    from orchestration import tasks

    events.emit(stream="ret:task", type="tick")
    Event.objects.filter(stream="ret:task").update(created_at=days_ago(DAYS + 1))

    counts = tasks.prune()

    assert {"jobs", "stages", "events", "task_results", "workflow_runs.files", "scans.pages"} <= set(counts)
    assert counts["events"] == 1 and not Event.objects.filter(stream="ret:task").exists()


def test_the_prune_history_command_prints_every_batch_and_the_totals(monkeypatch):
    engine_only(monkeypatch)
    old = finished_stage("cmd", finalised_days_ago=DAYS + 1, states=(JobState.SUCCEEDED,) * 5)
    out = io.StringIO()

    call_command("prune_history", "--days", str(DAYS), "--batch", "2", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Pruning what finished before ")
    assert "(30 days), 2 rows a batch: jobs, stages" in lines[0]
    job_batches = [line for line in lines if ": jobs -" in line]
    assert [line.split("(")[1].split(" so far")[0] for line in job_batches] == ["2", "4", "5"], lines
    assert any(": stages -1 (1 so far" in line for line in lines), lines
    assert lines[-1].startswith("Done in ") and lines[-1].endswith("batches: jobs=5 stages=1 events=0 task_results=0")
    assert not Stage.objects.filter(pk=old.pk).exists()
