"""Builders: templates, funded tenants, uploads, and runs put directly into a given state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from orchestration import stages
from orchestration.models import Stage, StageStatus
from tenants.models import Tenant
from workflow_runs import jobs
from workflow_runs.models import (
    CreditAccount,
    CreditLedgerEntry,
    FileStatus,
    ProcessorPrice,
    RunFile,
    RunMode,
    RunStatus,
    Template,
    WorkflowRun,
)
from workflow_runs.services.credits import credits_grant
from workflow_runs.services.reconcile import credits_reconcile
from workflow_runs.services.runs import storage_name


def set_price(processor: str, credits_per_file: int, *, plan: str = "") -> None:
    """The platform's price of `processor` (what a platform admin sets through /api/prices)."""
    ProcessorPrice.objects.update_or_create(
        processor=processor, plan=plan, defaults={"credits_per_file": credits_per_file}
    )


def make_template(
    *,
    tenant: Tenant | None,
    processor: str = "text_stats",
    credits_per_run: int = 2,
    config: dict[str, Any] | None = None,
    max_attempts: int = 2,
    name: str = "Template",
) -> Template:
    """A template, and `credits_per_run` as the platform's default price of its processor."""
    set_price(processor, credits_per_run)
    return Template.objects.create(
        tenant=tenant,
        name=name,
        processor=processor,
        processor_config=config or {},
        max_attempts=max_attempts,
    )


def fund(tenant: Tenant, *, monthly: int = 0, purchased: int = 0) -> None:
    if monthly:
        credits_grant(tenant=tenant, amount=monthly, source="monthly")
    if purchased:
        credits_grant(tenant=tenant, amount=purchased, source="purchased", reason="purchase")


def balance(tenant: Tenant) -> tuple[int, int]:
    account = CreditAccount.objects.filter(pk=tenant.pk).first()
    return (account.monthly_balance, account.purchased_balance) if account else (0, 0)


def entries(tenant: Tenant, reason: str) -> list[int]:
    """The amounts of the tenant's ledger rows of `reason`, oldest first."""
    return list(
        CreditLedgerEntry.objects.filter(tenant=tenant, reason=reason).order_by("id").values_list("amount", flat=True)
    )


def reserved(tenant: Tenant) -> int:
    account = CreditAccount.objects.filter(pk=tenant.pk).first()
    return account.reserved_balance if account else 0


def captured(tenant: Tenant) -> int:
    account = CreditAccount.objects.filter(pk=tenant.pk).first()
    return account.captured_balance if account else 0


def upload(name: str, content: bytes | str) -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def run_in_state(
    *,
    tenant: Tenant,
    template: Template,
    files: Sequence[tuple[str, int]],
    status: str = RunStatus.COMPLETED_WITH_ERRORS,
    mode: str = RunMode.PER_FILE,
    max_retry_count: int = 3,
    contents: Sequence[str] | None = None,
    unit_price: int | None = None,
) -> WorkflowRun:
    """A run whose first round has ended and was settled: `files` is (file status, retry_attempt) per
    index. Builds the rows the engine and the services would have left, without running anything (no
    reservation is held: `pending` files here hold none)."""
    price = unit_price or ProcessorPrice.objects.get(processor=template.processor, plan="").credits_per_file
    with transaction.atomic():
        run = WorkflowRun.objects.create(
            tenant=tenant,
            template=template,
            unit_price=price,
            processor=template.processor,
            processor_config=template.processor_config,
            mode=mode,
            status=status,
            max_retry_count=max_retry_count,
            total_jobs=len(files),
            completed_jobs=sum(1 for s, _ in files if s == FileStatus.COMPLETED),
            failed_jobs=sum(1 for s, _ in files if s != FileStatus.COMPLETED),
            finished_at=timezone.now(),
        )
        rows = []
        for index, (file_status, attempt) in enumerate(files):
            text = contents[index] if contents else f"file {index} says hello world"
            path = default_storage.save(
                storage_name(run_id=run.pk, index=index, name=f"f{index}.txt"), ContentFile(text.encode())
            )
            rows.append(
                RunFile(
                    run=run,
                    index=index,
                    name=f"f{index}.txt",
                    file=path,
                    size=len(text),
                    status=file_status,
                    retry_attempt=attempt,
                    error_code="upstream_error" if file_status == FileStatus.FAILED else "",
                    output={"words": 4} if file_status == FileStatus.COMPLETED else None,
                )
            )
        RunFile.objects.bulk_create(rows)
        stage = stages.stage_create(kind=jobs.STAGE_KIND, ref=f"run:{run.pk}", stream=run.stream)
        Stage.objects.filter(pk=stage.pk).update(
            round=1, total=len(files), status=StageStatus.FINALISED, finalised_at=timezone.now()
        )
        run.stage = stage
        run.save(update_fields=["stage"])
    return run


def file_statuses(run: WorkflowRun) -> list[str]:
    return list(RunFile.objects.filter(run=run).order_by("index").values_list("status", flat=True))


def file_attempts(run: WorkflowRun) -> list[int]:
    return list(RunFile.objects.filter(run=run).order_by("index").values_list("retry_attempt", flat=True))


def assert_reconciled() -> None:
    """Every account's and run's credit columns equal what their ledger rows add up to."""
    assert credits_reconcile() == []
