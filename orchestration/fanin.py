"""Fan-in: atomic counters on the stage; exactly one finaliser per round."""

from __future__ import annotations

import logging

from django.db import connection

from .models import JobState, Stage, StageStatus
from .registry import stage_kind

logger = logging.getLogger(__name__)

_COUNTER = {JobState.SUCCEEDED: "succeeded", JobState.FAILED: "failed", JobState.ERROR: "errored"}


def record_job_end(*, stage_id: int, round: int, state: str) -> None:
    """Count one ended job of `round`. Inside the job's ending transaction; the row lock on the stage
    serialises concurrent ends, so exactly one of them sees the round complete."""
    column = _COUNTER[JobState(state)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE orchestration_stage SET {column} = {column} + 1 "
            "WHERE id = %s AND round = %s RETURNING total, succeeded + failed + errored, finalised_at",
            [stage_id, round],
        )
        row = cursor.fetchone()
    if row is None:
        return  # a job of an older round: that round was settled already
    total, ended, finalised_at = row
    if ended >= total and finalised_at is None:
        finalise_if_complete(stage_id=stage_id, round=round)


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
