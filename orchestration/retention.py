"""Retention: finished history older than `RETENTION_DAYS` is deleted in small batches.

The control lane runs `prune()` (task `orchestration.prune`, hourly). Each pruner deletes at most one
batch (`RETENTION_BATCH` rows) per call, in its own short transaction, so no statement holds many row
locks or writes a large WAL burst while jobs are being claimed and ended; `prune` calls them batch by
batch, in turn, until nothing is left or its time budget is spent (the next tick carries on).

The engine prunes its own tables: finished jobs of stages finalised before the cutoff, finalised stages
with no job left that no row references any more, events older than the cutoff (their `EventStream`
row stays, so a stream that gets a new event goes on from its last seq without a gap), and Celery's
task results. A domain registers a pruner for its own data (`register_pruner`, in AppConfig.ready).
The cutoff is PostgreSQL's clock, like every other time the engine compares.

Deleting an object is the domain's business; `stream_forget` and `stage_forget` remove what the engine
holds for it (in the domain's transaction).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import ForeignObjectRel

from . import metrics
from .models import FINISHED_STATES, Event, EventStream, Job, Stage, StageStatus

logger = logging.getLogger(__name__)

Pruner = Callable[[datetime, int], int]  # (cutoff, limit) -> rows (or files) deleted, at most `limit`

_pruners: dict[str, Pruner] = {}


def register_pruner(name: str, fn: Pruner) -> None:
    """Add a pruner that `prune()` calls: `fn(cutoff, limit)` deletes at most `limit` items finished
    before `cutoff`, in its own transaction (it is called outside one), and returns how many it deleted.
    Registering a name again replaces it."""
    _pruners[name] = fn


def pruners() -> dict[str, Pruner]:
    """The engine's pruners first (jobs before stages: a stage goes once its jobs have), then the domains'."""
    engine: dict[str, Pruner] = {"jobs": jobs_prune, "stages": stages_prune, "events": events_prune}
    if apps.is_installed("django_celery_results"):
        engine["task_results"] = task_results_prune
    return {**engine, **_pruners}


def retention_days() -> float:
    return float(settings.RELAY_ENGINE["RETENTION_DAYS"])


def retention_batch() -> int:
    return int(settings.RELAY_ENGINE["RETENTION_BATCH"])


def retention_cutoff(*, days: float | None = None) -> datetime:
    """Now minus the retention age, by PostgreSQL's clock."""
    seconds = (retention_days() if days is None else days) * 86400
    with connection.cursor() as cursor:
        cursor.execute("SELECT now() - make_interval(secs => %s)", [seconds])
        (cutoff,) = cursor.fetchone()
    assert isinstance(cutoff, datetime)
    return cutoff


def _delete_batch(sql: str, params: list[Any]) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def jobs_prune(cutoff: datetime, limit: int) -> int:
    """Finished jobs of stages finalised before `cutoff`. A stage that a retry reopened is running, so
    none of its jobs go; a job that is not finished never goes."""
    return _delete_batch(
        f"""
        DELETE FROM {Job._meta.db_table} WHERE id IN (
            SELECT j.id FROM {Job._meta.db_table} j JOIN {Stage._meta.db_table} s ON s.id = j.stage_id
            WHERE s.status = %s AND s.finalised_at < %s AND j.state = ANY(%s)
            LIMIT %s
        )
        """,
        [StageStatus.FINALISED, cutoff, [str(state) for state in FINISHED_STATES], limit],
    )


def _unreferenced_condition() -> str:
    """`NOT EXISTS` a row pointing at the stage, for every foreign key to Stage but the jobs' (read from
    the model registry, so the engine names no domain table): a domain keeps the stages it references."""
    conditions = []
    # Hidden relations too: a domain that names no reverse accessor (`related_name="+"`) still refers.
    for relation in Stage._meta.get_fields(include_hidden=True):
        if not isinstance(relation, ForeignObjectRel) or relation.many_to_many:
            continue
        model = relation.related_model
        if not isinstance(model, type) or model is Job:
            continue
        table = model._meta.db_table
        column = relation.field.column
        conditions.append(f"NOT EXISTS (SELECT 1 FROM {table} r WHERE r.{column} = s.id)")
    return " AND ".join(conditions) or "TRUE"


def stages_prune(cutoff: datetime, limit: int) -> int:
    """Stages finalised before `cutoff` with no job left that no domain row references."""
    table = Stage._meta.db_table
    return _delete_batch(
        f"""
        DELETE FROM {table} WHERE id IN (
            SELECT s.id FROM {table} s
            WHERE s.status = %s AND s.finalised_at < %s
              AND NOT EXISTS (SELECT 1 FROM {Job._meta.db_table} j WHERE j.stage_id = s.id)
              AND {_unreferenced_condition()}
            LIMIT %s
            FOR UPDATE SKIP LOCKED
        )
        """,
        [StageStatus.FINALISED, cutoff, limit],
    )


def events_prune(cutoff: datetime, limit: int) -> int:
    """Events created before `cutoff` (found through the BRIN index on `created_at`). `EventStream` rows
    stay: a stream that gets a new event goes on from its last seq, without a gap."""
    table = Event._meta.db_table
    return _delete_batch(
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE created_at < %s LIMIT %s)",
        [cutoff, limit],
    )


def task_results_prune(cutoff: datetime, limit: int) -> int:
    """Celery task results (django_celery_results) done before `cutoff`."""
    table = apps.get_model("django_celery_results", "TaskResult")._meta.db_table
    return _delete_batch(
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE date_done < %s LIMIT %s)", [cutoff, limit]
    )


def prune(
    *,
    budget_seconds: float = 5.0,
    limit: int | None = None,
    cutoff: datetime | None = None,
    on_batch: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Run every pruner, one batch at a time and in turn, until none has anything left or the budget is
    spent. Returns what each deleted. A pruner that raises is logged and counted, and skipped until the
    next call; the others go on. `on_batch(pruner, deleted, deleted_so_far)` is told of every batch that
    deleted something (the `prune_history` command prints it)."""
    limit = retention_batch() if limit is None else limit
    cutoff = retention_cutoff() if cutoff is None else cutoff
    deadline = time.monotonic() + budget_seconds
    counts = dict.fromkeys(pruners(), 0)
    pending = dict(pruners())
    while pending and time.monotonic() < deadline:
        for name, fn in list(pending.items()):
            try:
                deleted = fn(cutoff, limit)
            except Exception:
                logger.exception("retention.pruner_failed pruner=%s", name)
                metrics.incr("relay_retention_failures_total", pruner=name)
                del pending[name]
                continue
            counts[name] += deleted
            if on_batch is not None and deleted:
                on_batch(name, deleted, counts[name])
            if deleted < limit:
                del pending[name]
            if time.monotonic() >= deadline:
                break
    for name, deleted in counts.items():
        if deleted:
            metrics.incr("relay_retention_pruned_total", deleted, pruner=name)
    logger.info(
        "retention.pruned cutoff=%s done=%s %s",
        cutoff.isoformat(),
        not pending,
        " ".join(f"{name}={deleted}" for name, deleted in counts.items()),
    )
    return counts


def stream_forget(stream: str) -> int:
    """Delete every event of `stream` and its `EventStream` row (the object it belongs to is being
    deleted, in the caller's transaction). Returns the events deleted."""
    with transaction.atomic(savepoint=False):
        deleted = Event.objects.filter(stream=stream)._raw_delete(Event.objects.db)
        EventStream.objects.filter(name=stream)._raw_delete(EventStream.objects.db)
    return deleted


def stage_forget(stage_id: int | None) -> int:
    """Delete a stage and all its jobs (its domain object is being deleted, in the caller's
    transaction, which has removed or let go of its reference first). Returns the jobs deleted."""
    if stage_id is None:
        return 0
    with transaction.atomic(savepoint=False):
        deleted = Job.objects.filter(stage_id=stage_id)._raw_delete(Job.objects.db)
        Stage.objects.filter(pk=stage_id)._raw_delete(Stage.objects.db)
    return deleted
