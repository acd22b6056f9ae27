"""Cancelling a run: files not started never run and are refunded; completed files keep their output."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from core.exceptions import Conflict
from orchestration import cancel, events
from orchestration.db import retry_on_conflict
from tenants.models import User
from tenants.selectors import get_scoped

from ..models import RunStatus, WorkflowRun

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CancelResult:
    run: WorkflowRun
    already: bool  # a duplicate cancel: nothing changed


@retry_on_conflict(attempts=3)
def workflow_run_cancel(*, run_id: uuid.UUID | str, actor: User) -> CancelResult:
    """Cancel a running run. Queued files end `cancelled` at once; running ones stop at their next
    check (or finish first, and keep their output); once nothing runs the run is `CANCELLED` and every
    cancelled file is refunded (`jobs.finalise_cancelled_run`). A second cancel is a no-op; a run that
    is not running answers 409."""
    with transaction.atomic():
        run = get_scoped(WorkflowRun.objects.select_for_update(of=("self",)), user=actor, pk=run_id)
        if run.cancelled_at is not None:
            return CancelResult(run=run, already=True)
        if run.status != RunStatus.RUNNING or run.stage is None:
            raise Conflict(f"The run is {run.status}; only a running run can be cancelled.", code="run_not_running")
        WorkflowRun.objects.filter(pk=run.pk).update(cancelled_at=timezone.now(), cancelled_by=actor)
        events.emit(stream=run.stream, type="run_cancel_requested", payload={"by": actor.pk})
        outcome = cancel.stage_cancel(stage=run.stage)
    logger.info(
        "workflow.run_cancel tenant=%s run=%s actor=%s cancelled=%s stopping=%s",
        run.tenant_id,
        run.pk,
        actor.pk,
        outcome.jobs_cancelled,
        outcome.jobs_stopping,
    )
    run.refresh_from_db()
    return CancelResult(run=run, already=False)
