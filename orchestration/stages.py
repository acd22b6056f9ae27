"""Opening stages and rounds, adding jobs, pausing and resuming. Call these inside the domain's
transaction: the jobs commit with the state change that created them and are published after commit.

Lock order, to stay free of deadlocks: domain rows → stage row → event stream row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from .dispatch import Dispatch, publish_on_commit
from .fanin import finalise_if_complete
from .models import Job, JobState, Stage, StageStatus


@dataclass(frozen=True)
class JobSpec:
    key: str
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None


@dataclass(frozen=True)
class EnqueueResult:
    created: list[int]  # ids of the jobs inserted
    adopted: list[int]  # ids of live jobs that already existed for these keys (no-op, counted once)

    @property
    def job_ids(self) -> list[int]:
        return self.created + self.adopted


def stage_create(*, kind: str, ref: str, stream: str = "", max_attempts: int = 3) -> Stage:
    return Stage.objects.create(kind=kind, ref=ref, stream=stream, max_attempts=max_attempts,
                                status=StageStatus.IDLE)


def stage_start_round(*, stage: Stage, jobs: Sequence[JobSpec]) -> EnqueueResult:
    """Open a new round over `jobs`: counters start at zero with `total = len(jobs)`.

    A round with no jobs is finalised at once (the domain's finaliser runs in this transaction).
    """
    assert transaction.get_connection().in_atomic_block, "open rounds inside the domain's transaction"
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE orchestration_stage
            SET round = round + 1, total = 0, succeeded = 0, failed = 0, errored = 0,
                finalised_at = NULL, status = 'running'
            WHERE id = %s RETURNING round
            """,
            [stage.pk],
        )
        (stage.round,) = cursor.fetchone()
    stage.total = stage.succeeded = stage.failed = stage.errored = 0
    stage.finalised_at = None
    stage.status = StageStatus.RUNNING
    result = jobs_enqueue(stage=stage, jobs=jobs)
    if not jobs:
        finalise_if_complete(stage_id=stage.pk, round=stage.round)
    return result


def jobs_enqueue(*, stage: Stage, jobs: Sequence[JobSpec]) -> EnqueueResult:
    """Add jobs to the stage's current round. A key that already has a live job is a no-op that
    returns that job (adopted into this round if it belongs to this stage). The database decides."""
    unique: dict[str, JobSpec] = {spec.key: spec for spec in jobs}
    if not unique:
        return EnqueueResult(created=[], adopted=[])
    specs = list(unique.values())
    from .registry import job_kind

    queues = [spec.queue or job_kind(spec.kind).queue for spec in specs]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO orchestration_job
                (stage_id, round, kind, key, state, queue, attempts, max_attempts, payload,
                 error_code, error_message, worker, lease_owner, available_at, published_at, created_at)
            SELECT %s, %s, j.kind, j.key, 'queued', j.queue, 0, %s, j.payload::jsonb,
                   '', '', '', '', now(), now(), now()
            FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS j(key, kind, payload, queue)
            ON CONFLICT (key) WHERE state IN ('queued', 'running') DO NOTHING
            RETURNING id, key, queue
            """,
            [
                stage.pk, stage.round, stage.max_attempts,
                [spec.key for spec in specs], [spec.kind for spec in specs],
                [json.dumps(spec.payload) for spec in specs], queues,
            ],
        )
        created_rows = cursor.fetchall()
        created_keys = {row[1] for row in created_rows}
        skipped = [spec.key for spec in specs if spec.key not in created_keys]
        adopted: list[int] = []
        if skipped:
            # Live already: adopt it into this round so the round fans in when it ends.
            cursor.execute(
                """
                UPDATE orchestration_job SET round = %s
                WHERE stage_id = %s AND key = ANY(%s) AND state IN ('queued', 'running')
                RETURNING id
                """,
                [stage.round, stage.pk, skipped],
            )
            adopted = [row[0] for row in cursor.fetchall()]
            if len(adopted) != len(skipped):
                raise ValueError(f"job keys live in another stage: {skipped}")
        cursor.execute(
            "UPDATE orchestration_stage SET total = total + %s WHERE id = %s AND round = %s RETURNING total",
            [len(created_rows) + len(adopted), stage.pk, stage.round],
        )
        (stage.total,) = cursor.fetchone()
    publish_on_commit([Dispatch(job_id=row[0], key=row[1], queue=row[2]) for row in created_rows])
    return EnqueueResult(created=[row[0] for row in created_rows], adopted=adopted)


def stage_pause(*, stage: Stage) -> int:
    """Stop dispatching: queued jobs of the current round go back to `pending`. Running jobs finish
    (handlers that loop may check `job_should_stop`). Returns the number of jobs held back."""
    with transaction.atomic():
        Stage.objects.filter(pk=stage.pk, status=StageStatus.RUNNING).update(status=StageStatus.PAUSED)
        held = Job.objects.filter(stage=stage, round=stage.round, state=JobState.QUEUED).update(
            state=JobState.PENDING, published_at=None
        )
    stage.status = StageStatus.PAUSED
    return held


def stage_resume(*, stage: Stage) -> int:
    """Dispatch the round's pending jobs again (after a pause or a lost worker). Returns how many."""
    with transaction.atomic():
        Stage.objects.filter(pk=stage.pk, status=StageStatus.PAUSED).update(status=StageStatus.RUNNING)
        stage.status = StageStatus.RUNNING
        return jobs_requeue_pending(stage=stage)


def jobs_requeue_pending(*, stage: Stage) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE orchestration_job
            SET state = 'queued', available_at = now(), published_at = now(), lease_owner = ''
            WHERE stage_id = %s AND round = %s AND state = 'pending'
            RETURNING id, key, queue
            """,
            [stage.pk, stage.round],
        )
        rows = cursor.fetchall()
    publish_on_commit([Dispatch(job_id=row[0], key=row[1], queue=row[2]) for row in rows])
    return len(rows)


def job_should_stop(job: Job) -> bool:
    """For long handlers: true when the job's stage was paused or the job was taken away."""
    return not Job.objects.filter(
        pk=job.pk, state=JobState.RUNNING, lease_owner=job.lease_owner, stage__status=StageStatus.RUNNING
    ).exists()
