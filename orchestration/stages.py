"""Opening stages and rounds, adding jobs, pausing and resuming. Call these inside the domain's
transaction: the jobs commit with the state change that created them and are published after commit.

Lock order: a domain request locks its domain rows, then the stage row, then the event stream row.
An ending transaction (`ending`) locks the job rows, then what `on_end` touches, then the stage row
(its counters, the last write), then what the finaliser touches. A domain only opens a round when no
job of the stage is running, so the two rarely meet; when they do, PostgreSQL picks a deadlock victim
and the ending transaction is run again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from . import leases
from .db import bound_cursor
from .dispatch import ring_on_commit
from .fairness import fair_keys_reserve
from .fanin import finalise_if_complete
from .models import Job, JobState, Priority, Stage, StageStatus
from .origin import origin_capture
from .registry import job_kind


@dataclass(frozen=True)
class JobSpec:
    key: str
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None


@dataclass(frozen=True)
class EnqueueResult:
    created: list[int]  # jobs inserted
    adopted: list[int]  # live jobs of an earlier round of this stage, now counted in this round
    existing: list[int]  # live jobs already in this round: the enqueue was a no-op

    @property
    def job_ids(self) -> list[int]:
        return self.created + self.adopted + self.existing


def stage_create(
    *,
    kind: str,
    ref: str,
    stream: str = "",
    max_attempts: int = 3,
    fairness_key: str = "",
    priority: int = Priority.BULK,
) -> Stage:
    """`fairness_key`: whom this stage's jobs share the workers fairly with (the domain passes
    `tenant:<id>`; the engine knows no tenants). `priority`: `Priority.INTERACTIVE` for work someone
    waits for, claimed before any bulk work."""
    return Stage.objects.create(
        kind=kind,
        ref=ref,
        stream=stream,
        max_attempts=max_attempts,
        status=StageStatus.IDLE,
        fairness_key=fairness_key,
        priority=priority,
    )


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
    if not result.job_ids:
        finalise_if_complete(stage_id=stage.pk, round=stage.round)
    return result


def jobs_enqueue(*, stage: Stage, jobs: Sequence[JobSpec]) -> EnqueueResult:
    """Add jobs to the stage's current round. A key that already has a live job is a no-op that
    returns that job (adopted into this round if it belongs to an earlier round of this stage).
    The partial unique index decides; concurrent callers with the same key get the same job."""
    unique: dict[str, JobSpec] = {spec.key: spec for spec in jobs}
    created: list[tuple[int, str, str]] = []  # (id, key, queue)
    adopted: list[int] = []
    existing: list[int] = []
    with transaction.atomic(savepoint=False), bound_cursor() as cursor:
        pending = list(unique.values())
        # A live job seen by the INSERT may end before we look it up; insert those keys again.
        for _ in range(5):
            if not pending:
                break
            created += _insert_jobs(
                cursor, stage=stage, specs=pending, queues=[spec.queue or job_kind(spec.kind).queue for spec in pending]
            )
            inserted = {key for _, key, _ in created}
            skipped = [spec.key for spec in pending if spec.key not in inserted]
            pending = []
            if not skipped:
                break
            cursor.execute(
                """
                SELECT id, key, stage_id, round FROM orchestration_job
                WHERE key = ANY(%s) AND state IN ('queued', 'running') FOR UPDATE
                """,
                [skipped],
            )
            live = {row[1]: row for row in cursor.fetchall()}
            for key in skipped:
                if key not in live:
                    continue
                job_id, _, stage_id, job_round = live[key]
                if stage_id != stage.pk:
                    raise ValueError(f"job key {key!r} is live in another stage ({stage_id})")
                (existing if job_round == stage.round else adopted).append(job_id)
            if adopted:
                cursor.execute("UPDATE orchestration_job SET round = %s WHERE id = ANY(%s)", [stage.round, adopted])
            pending = [unique[key] for key in skipped if key not in live]
        if pending:  # still contended after five tries
            raise RuntimeError(f"could not enqueue {len(pending)} jobs: their keys keep changing state")
        cursor.execute(
            """
            UPDATE orchestration_stage SET total = total + %s
            WHERE id = %s AND round = %s AND finalised_at IS NULL RETURNING total
            """,
            [len(created) + len(adopted), stage.pk, stage.round],
        )
        row = cursor.fetchone()
        if row is None:  # rolls the inserts back with the caller's transaction
            raise ValueError(f"stage {stage.pk} round {stage.round} is finalised: open a new round instead")
        (stage.total,) = row
    ring_on_commit(queue for _, _, queue in created)
    return EnqueueResult(created=[row[0] for row in created], adopted=adopted, existing=existing)


def _insert_jobs(cursor: Any, *, stage: Stage, specs: Sequence[JobSpec], queues: list[str]) -> list[Any]:
    fair_keys = _fair_keys(cursor, stage=stage, queues=queues)
    origin = origin_capture()  # one value for the whole enqueue, the same in every row
    cursor.execute(
        """
        INSERT INTO orchestration_job
            (stage_id, round, kind, key, state, queue, group_key, priority, fair_key, attempts, max_attempts,
             recovery_failures, payload, origin, error_code, error_message, worker, lease_owner, available_at,
             created_at)
        SELECT %s, %s, j.kind, j.key, 'queued', j.queue, %s, %s, j.fair_key, 0, j.max_attempts, 0, j.payload::jsonb,
               %s::jsonb, '', '', '', '', now(), now()
        FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[], %b::int[])
            AS j(key, kind, payload, queue, fair_key, max_attempts)
        ON CONFLICT (key) WHERE state IN ('queued', 'running') DO NOTHING
        RETURNING id, key, queue
        """,
        [
            stage.pk,
            stage.round,
            stage.fairness_key,
            stage.priority,
            origin,
            [spec.key for spec in specs],
            [spec.kind for spec in specs],
            [json.dumps(spec.payload) for spec in specs],
            queues,
            fair_keys,
            [job_kind(spec.kind).retry.max_attempts or stage.max_attempts for spec in specs],
        ],
    )
    return list(cursor.fetchall())


def _fair_keys(cursor: Any, *, stage: Stage, queues: Sequence[str]) -> list[int]:
    """Consecutive fair keys for the stage's group, per queue, in the order of `queues`."""
    wanted: dict[str, int] = {}
    for queue in queues:
        wanted[queue] = wanted.get(queue, 0) + 1
    next_key = {
        queue: fair_keys_reserve(
            cursor, queue=queue, priority=stage.priority, group_key=stage.fairness_key, count=count
        )
        for queue, count in sorted(wanted.items())  # a fixed order: two enqueues lock lanes alike
    }
    keys: list[int] = []
    for queue in queues:
        keys.append(next_key[queue])
        next_key[queue] += 1
    return keys


def stage_pause(*, stage: Stage) -> int:
    """Stop dispatching: queued jobs of the current round go back to `pending`. Running jobs finish
    (handlers that loop may check `job_should_stop`). Returns the number of jobs held back."""
    with transaction.atomic():
        Stage.objects.filter(pk=stage.pk, status=StageStatus.RUNNING).update(status=StageStatus.PAUSED)
        held = Job.objects.filter(stage=stage, round=stage.round, state=JobState.QUEUED).update(state=JobState.PENDING)
    stage.status = StageStatus.PAUSED
    return held


def stage_resume(*, stage: Stage) -> int:
    """Dispatch the round's pending jobs again (after a pause or a lost worker). Returns how many."""
    with transaction.atomic():
        Stage.objects.filter(pk=stage.pk, status=StageStatus.PAUSED).update(status=StageStatus.RUNNING)
        stage.status = StageStatus.RUNNING
        return jobs_requeue_pending(stage=stage)


def jobs_requeue_pending(*, stage: Stage) -> int:
    """`pending → queued` for the round's parked jobs, with new fair keys: a stage that comes back
    from a pause joins its tenant's share as new work would, instead of jumping the queue."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, queue FROM orchestration_job WHERE stage_id = %s AND round = %s AND state = 'pending' "
            "ORDER BY fair_key, id FOR UPDATE",
            [stage.pk, stage.round],
        )
        parked = cursor.fetchall()
        if not parked:
            return 0
        fair_keys = _fair_keys(cursor, stage=stage, queues=[queue for _, queue in parked])
        cursor.execute(
            """
            UPDATE orchestration_job AS j
            SET state = 'queued', available_at = now(), lease_owner = '', fair_key = p.fair_key
            FROM unnest(%s::bigint[], %s::bigint[]) AS p(id, fair_key)
            WHERE j.id = p.id AND j.state = 'pending'
            RETURNING j.queue
            """,
            [[job_id for job_id, _ in parked], fair_keys],
        )
        queues = [row[0] for row in cursor.fetchall()]
    ring_on_commit(queues)
    return len(queues)


def job_should_stop(job: Job, *, ask_database: bool = True) -> bool:
    """For long handlers: true when the job's stage was paused or cancelled, or the job was taken
    away. What the lease keeper learnt at its last renewal (lease gone, stage cancelled) is answered
    from memory; `ask_database=False` skips the query, so a loop may ask after every item cheaply."""
    if leases.keeper.told_to_stop(job.lease_owner):
        return True
    if not ask_database:
        return False
    return not Job.objects.filter(
        pk=job.pk,
        state=JobState.RUNNING,
        lease_owner=job.lease_owner,
        stage__status=StageStatus.RUNNING,
        stage__cancel_requested_at__isnull=True,
    ).exists()
