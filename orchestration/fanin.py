"""Fan-in: counters on the stage, updated once per stage and round per ending transaction (not once
per job: the stage row is the one row all of a stage's jobs share); exactly one finaliser per round."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from .db import bound_cursor
from .models import Stage, StageStatus
from .registry import stage_kind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndRecord:
    ended: bool  # false: the job was not ours to end (taken back by the sweeper, ended by a duplicate)
    round_complete: bool  # this end was the last of its round and the round is not finalised yet
    state: str = ""  # the state the job ended in (`cancelled` when its stage was cancelled meanwhile)


# A job of a cancelled stage that did not succeed ends `cancelled`, whatever its handler said.
_END_STATE = """CASE WHEN %(state)s <> 'succeeded' AND EXISTS (
        SELECT 1 FROM orchestration_stage AS s WHERE s.id = j.stage_id AND s.cancel_requested_at IS NOT NULL
    ) THEN 'cancelled' ELSE %(state)s END"""


def end_job_and_count(
    *,
    job_id: int,
    token: str | None,
    state: str,
    result: str | None,
    error_code: str,
    error_message: str,
    error_retryable: bool | None,
    from_states: tuple[str, ...] = ("running",),
) -> EndRecord:
    """End a job held by `token` (None: whoever holds it) and count it in its round, in one statement
    (one round trip on the hot path). Inside the job's ending transaction: the stage row stays locked
    until commit, so concurrent ends are serialised and exactly one of them sees the round complete."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH ended AS (
                UPDATE orchestration_job AS j
                SET state = {_END_STATE}, result = %(result)s::jsonb, lease_owner = '', lease_expires_at = NULL,
                    finished_at = now(), error_code = %(code)s, error_message = %(message)s,
                    error_retryable = %(retryable)s
                WHERE j.id = %(job)s AND j.state = ANY(%(from_states)s)
                  AND (%(token)s::text IS NULL OR j.lease_owner = %(token)s::text)
                RETURNING j.stage_id, j.round, j.state
            ), counted AS (
                UPDATE orchestration_stage AS stage
                SET succeeded = stage.succeeded + (ended.state = 'succeeded')::int,
                    failed = stage.failed + (ended.state = 'failed')::int,
                    errored = stage.errored + (ended.state = 'error')::int,
                    cancelled = stage.cancelled + (ended.state = 'cancelled')::int
                FROM ended WHERE stage.id = ended.stage_id AND stage.round = ended.round
                RETURNING stage.total, stage.succeeded + stage.failed + stage.errored + stage.cancelled AS done,
                          stage.finalised_at
            )
            SELECT (SELECT state FROM ended), counted.total, counted.done, counted.finalised_at
            FROM (SELECT 1) AS one LEFT JOIN counted ON true
            """,
            {
                "state": state,
                "result": result,
                "code": error_code,
                "message": error_message,
                "retryable": error_retryable,
                "job": job_id,
                "token": token,
                "from_states": list(from_states),
            },
        )
        row = cursor.fetchone()
    assert row is not None  # the outer SELECT always yields one row
    ended_state, total, done, finalised_at = row
    # total is None for a job of an older round: that round was settled already.
    complete = total is not None and done >= total and finalised_at is None
    return EndRecord(ended=ended_state is not None, round_complete=complete, state=ended_state or "")


@dataclass(frozen=True)
class EndRow:
    """One job's end as the batch statement writes it."""

    job_id: int
    token: str
    state: str
    result: str | None  # JSON text
    error_code: str
    error_message: str
    error_retryable: bool | None


@dataclass(frozen=True)
class EndedJob:
    job_id: int
    stage_id: int
    round: int
    state: str  # `cancelled` when its stage was cancelled meanwhile


def jobs_mark_ended(rows: list[EndRow]) -> dict[int, EndedJob]:
    """End running jobs, each guarded on its claim token, in one statement; counts nothing (the caller
    counts with `rounds_count` once the domain has recorded the outcomes). Returns the jobs that ended,
    by id; a job missing from the answer was not ours to end."""
    if not rows:
        return {}
    with bound_cursor() as cursor:
        cursor.execute(
            """
            UPDATE orchestration_job AS j
            SET state = CASE WHEN i.state <> 'succeeded' AND s.cancel_requested_at IS NOT NULL
                             THEN 'cancelled' ELSE i.state END,
                result = i.result::jsonb, lease_owner = '', lease_expires_at = NULL, finished_at = now(),
                error_code = i.code, error_message = i.message, error_retryable = i.retryable
            FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::boolean[])
                     AS i(id, token, state, result, code, message, retryable),
                 orchestration_stage AS s
            WHERE j.id = i.id AND j.state = 'running' AND j.lease_owner = i.token AND s.id = j.stage_id
            RETURNING j.id, j.stage_id, j.round, j.state
            """,
            [
                [row.job_id for row in rows],
                [row.token for row in rows],
                [row.state for row in rows],
                [row.result for row in rows],
                [row.error_code for row in rows],
                [row.error_message for row in rows],
                [row.error_retryable for row in rows],
            ],
        )
        return {job_id: EndedJob(job_id, stage_id, round_, state) for job_id, stage_id, round_, state in cursor}


def rounds_count(ended: Iterable[EndedJob]) -> list[tuple[int, int]]:
    """Count ended jobs in their stages' rounds: one update per stage and round, in stage id order (two
    flushes that span the same stages lock them alike). Returns the rounds this call completed, whose
    finaliser the caller runs in the same transaction. Jobs of an older round are not counted: that
    round was settled already."""
    tallies: dict[tuple[int, int], Counter[str]] = {}
    for job in ended:
        tallies.setdefault((job.stage_id, job.round), Counter())[job.state] += 1
    complete: list[tuple[int, int]] = []
    with bound_cursor() as cursor:
        for (stage_id, round_), tally in sorted(tallies.items()):
            cursor.execute(
                """
                UPDATE orchestration_stage
                SET succeeded = succeeded + %s, failed = failed + %s, errored = errored + %s,
                    cancelled = cancelled + %s
                WHERE id = %s AND round = %s
                RETURNING total, succeeded + failed + errored + cancelled, finalised_at
                """,
                [tally["succeeded"], tally["failed"], tally["error"], tally["cancelled"], stage_id, round_],
            )
            row = cursor.fetchone()
            if row is not None and row[1] >= row[0] and row[2] is None:
                complete.append((stage_id, round_))
    return complete


def finalise_if_complete(*, stage_id: int, round: int) -> bool:
    """Claim the round's finalisation with a guarded update and call the domain's finaliser."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE orchestration_stage SET finalised_at = now(), status = %s
            WHERE id = %s AND round = %s AND finalised_at IS NULL
              AND succeeded + failed + errored + cancelled >= total
            """,
            [StageStatus.FINALISED, stage_id, round],
        )
        claimed = cursor.rowcount == 1
    if claimed:
        stage = Stage.objects.get(pk=stage_id)
        logger.info(
            "engine.stage_finalised stage=%s kind=%s ref=%s round=%s succeeded=%s failed=%s errored=%s cancelled=%s",
            stage.pk,
            stage.kind,
            stage.ref,
            round,
            stage.succeeded,
            stage.failed,
            stage.errored,
            stage.cancelled,
        )
        stage_kind(stage.kind).finalise(stage)
    return claimed
