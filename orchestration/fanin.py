"""Fan-in: atomic counters on the stage; exactly one finaliser per round."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import connection

from .models import JobState, Stage, StageStatus
from .registry import stage_kind

logger = logging.getLogger(__name__)

_COUNTER = {JobState.SUCCEEDED: "succeeded", JobState.FAILED: "failed", JobState.ERROR: "errored"}


@dataclass(frozen=True)
class EndRecord:
    ended: bool  # false: the job was not ours to end (taken back by the sweeper, ended by a duplicate)
    round_complete: bool  # this end was the last of its round and the round is not finalised yet


def end_job_and_count(
    *,
    job_id: int,
    token: str,
    state: str,
    result: str | None,
    error_code: str,
    error_message: str,
    error_retryable: bool | None,
) -> EndRecord:
    """End a running job held by `token` and count it in its round, in one statement (one round trip
    on the hot path). Inside the job's ending transaction: the stage row stays locked until commit, so
    concurrent ends are serialised and exactly one of them sees the round complete."""
    column = _COUNTER[JobState(state)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH ended AS (
                UPDATE orchestration_job
                SET state = %s, result = %s::jsonb, lease_owner = '', lease_expires_at = NULL,
                    finished_at = now(), error_code = %s, error_message = %s, error_retryable = %s
                WHERE id = %s AND state = 'running' AND lease_owner = %s
                RETURNING stage_id, round
            ), counted AS (
                UPDATE orchestration_stage AS stage SET {column} = stage.{column} + 1
                FROM ended WHERE stage.id = ended.stage_id AND stage.round = ended.round
                RETURNING stage.total, stage.succeeded + stage.failed + stage.errored AS done, stage.finalised_at
            )
            SELECT (SELECT count(*) FROM ended), counted.total, counted.done, counted.finalised_at
            FROM (SELECT 1) AS one LEFT JOIN counted ON true
            """,
            [state, result, error_code, error_message, error_retryable, job_id, token],
        )
        row = cursor.fetchone()
    assert row is not None  # the outer SELECT always yields one row
    ended, total, done, finalised_at = row
    # total is None for a job of an older round: that round was settled already.
    complete = total is not None and done >= total and finalised_at is None
    return EndRecord(ended=ended == 1, round_complete=complete)


def finalise_if_complete(*, stage_id: int, round: int) -> bool:
    """Claim the round's finalisation with a guarded update and call the domain's finaliser."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE orchestration_stage SET finalised_at = now(), status = %s
            WHERE id = %s AND round = %s AND finalised_at IS NULL AND succeeded + failed + errored >= total
            """,
            [StageStatus.FINALISED, stage_id, round],
        )
        claimed = cursor.rowcount == 1
    if claimed:
        stage = Stage.objects.get(pk=stage_id)
        logger.info(
            "engine.stage_finalised stage=%s kind=%s ref=%s round=%s succeeded=%s failed=%s errored=%s",
            stage.pk,
            stage.kind,
            stage.ref,
            round,
            stage.succeeded,
            stage.failed,
            stage.errored,
        )
        stage_kind(stage.kind).finalise(stage)
    return claimed
