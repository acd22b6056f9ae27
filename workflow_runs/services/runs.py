"""Starting a run: store the uploads, then in one transaction create the run (snapshotting the platform's
price, the processor and its config), its file rows, reserve `files * price` (all or nothing) and record
the engine jobs, which are published after commit.

Publishing is durable rather than compensated: the jobs are rows committed with the charge, and the
engine's relay re-publishes any queued job whose broker message never arrived (broker down, process
killed between commit and publish). So a reserved file is never lost, and no release path is needed for
"could not publish"; a duplicate message is harmless because workers claim jobs with a compare-and-set.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence

from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction

from core.exceptions import ApplicationError
from orchestration import events, metrics, stages
from orchestration.models import Priority
from tenants.fair_share import tenant_fairness_key
from tenants.models import Tenant, User

from .. import jobs
from ..models import RunFile, RunMode, RunStatus, Template, WorkflowRun
from ..selectors import price_for
from .credits import credit_account_lock, credits_reserve

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# A run this small is someone waiting at the screen: its jobs are claimed before bulk work.
INTERACTIVE_RUN_MAX_FILES = 20


def storage_name(*, run_id: uuid.UUID | str, index: int, name: str) -> str:
    safe = _UNSAFE.sub("_", name).strip("._")[:100] or "file"
    return f"workflow_runs/{run_id}/{index:05d}-{safe}"


def _store(*, run_id: uuid.UUID, uploads: Sequence[File]) -> list[tuple[str, str, int]]:
    """Write the uploads to storage (outside any transaction: file I/O must not hold row locks)."""
    stored: list[tuple[str, str, int]] = []
    try:
        for index, upload in enumerate(uploads):
            name = upload.name or f"file-{index}"
            path = default_storage.save(storage_name(run_id=run_id, index=index, name=name), upload)
            stored.append((name, path, upload.size or 0))
    except Exception:
        _discard([path for _, path, _ in stored])
        raise
    return stored


def _discard(paths: Sequence[str]) -> None:
    for path in paths:
        try:
            default_storage.delete(path)
        except OSError:
            logger.warning("workflow.discard_failed path=%s", path, exc_info=True)


def workflow_run_start(
    *,
    tenant: Tenant,
    actor: User | None,
    template: Template,
    uploads: Sequence[File],
    mode: str = RunMode.PER_FILE,
    max_retry_count: int = 3,
) -> WorkflowRun:
    """Start a run of `template` over `uploads` for `tenant`. 402 when the tenant cannot pay for every
    file; then nothing is kept (no run, no files, no reservation)."""
    if not uploads:
        raise ApplicationError("Upload at least one file.", fields={"files": ["At least one file is required."]})
    run_id = uuid.uuid4()
    stored = _store(run_id=run_id, uploads=uploads)
    try:
        return _start(
            run_id=run_id,
            tenant=tenant,
            actor=actor,
            template=template,
            stored=stored,
            mode=mode,
            max_retry_count=max_retry_count,
        )
    except Exception:
        _discard([path for _, path, _ in stored])
        raise


def workflow_run_start_stored(
    *,
    tenant: Tenant,
    actor: User | None,
    template: Template,
    stored: Sequence[tuple[str, str, int]],
    mode: str = RunMode.PER_FILE,
    max_retry_count: int = 3,
    run_id: uuid.UUID | None = None,
) -> WorkflowRun:
    """Start a run over files already in storage: (name, storage path, size) per file."""
    return _start(
        run_id=run_id or uuid.uuid4(),
        tenant=tenant,
        actor=actor,
        template=template,
        stored=stored,
        mode=mode,
        max_retry_count=max_retry_count,
    )


@transaction.atomic
def _start(
    *,
    run_id: uuid.UUID,
    tenant: Tenant,
    actor: User | None,
    template: Template,
    stored: Sequence[tuple[str, str, int]],
    mode: str,
    max_retry_count: int,
) -> WorkflowRun:
    # Lock order: the run row (new, locked by its insert) → the tenant's credit account → engine rows.
    run = WorkflowRun.objects.create(
        id=run_id,
        tenant=tenant,
        template=template,
        created_by=actor,
        mode=mode,
        max_retry_count=max_retry_count,
        status=RunStatus.RUNNING,
        unit_price=price_for(processor=template.processor, tenant_id=tenant.pk),
        processor=template.processor,
        processor_config=template.processor_config,
    )
    account = credit_account_lock(tenant=tenant)
    reserved = credits_reserve(account=account, run=run, files=len(stored), round=1, actor=actor, note="run start")
    files = RunFile.objects.bulk_create(
        [
            RunFile(run=run, index=index, name=name[:255], file=path, size=size, reserved=True)
            for index, (name, path, size) in enumerate(stored)
        ],
        batch_size=2000,
    )
    stage = stages.stage_create(
        kind=jobs.STAGE_KIND,
        ref=f"run:{run.pk}",
        stream=run.stream,
        max_attempts=template.max_attempts,
        fairness_key=tenant_fairness_key(tenant.pk),
        priority=Priority.INTERACTIVE if len(stored) <= INTERACTIVE_RUN_MAX_FILES else Priority.BULK,
    )
    specs = jobs.round_jobs(run=run, files=[(file.pk, file.index, 0) for file in files])
    run.stage = stage
    run.total_jobs = len(specs)
    run.save(update_fields=["stage", "total_jobs", "updated_at"])
    stages.stage_start_round(stage=stage, jobs=specs)
    events.emit(
        stream=run.stream,
        feeds=run.feeds,
        type="run_started",
        payload={
            "files": len(files),
            "mode": mode,
            "creditsReserved": reserved.total,
            "unitPrice": run.unit_price,
        },
    )
    metrics.incr("relay_workflow_runs_started_total", mode=mode)
    logger.info(
        "workflow.run_started tenant=%s run=%s template=%s processor=%s mode=%s files=%s price=%s reserved=%s",
        tenant.pk,
        run.pk,
        template.pk,
        run.processor,
        mode,
        len(files),
        run.unit_price,
        reserved.total,
    )
    return run
