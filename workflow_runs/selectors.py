"""Reads and derived state: which templates a user sees, and whether Continue is possible."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from core.exceptions import ApplicationError
from tenants.models import User
from tenants.selectors import get_scoped, scoped

from .models import (
    CreditAccount,
    CreditLedgerEntry,
    FileStatus,
    ProcessorPrice,
    RunFile,
    RunStatus,
    Template,
    WorkflowRun,
)


def templates_visible(*, user: User) -> QuerySet[Template]:
    """Live templates of the user's tenant plus the platform-wide ones (every live one for platform admins)."""
    if user.is_platform_admin:
        return Template.objects.all()
    return Template.objects.filter(Q(tenant_id=user.tenant_id) | Q(tenant__isnull=True))


def template_get(*, user: User, template_id: UUID | str) -> Template:
    """A live template the user may see; anything else (another tenant's, archived, malformed id) is 404."""
    try:
        return templates_visible(user=user).get(pk=template_id)
    except (Template.DoesNotExist, ValueError, ValidationError) as exc:
        raise Http404 from exc


def runs_visible(*, user: User) -> QuerySet[WorkflowRun]:
    return scoped(WorkflowRun.objects.select_related("template", "stage"), user=user)


# What `api.presenters.summary_body` reads of a run, its template and its stage: a list page reads
# them as `values()` rows (models, with their configs' JSON, cost most of a list page's CPU).
RUN_SUMMARY_FIELDS = (
    *("id", "tenant_id", "mode", "status", "max_retry_count", "processor", "unit_price", "created_at", "finished_at"),
    *("total_jobs", "completed_jobs", "failed_jobs"),
    *("credits_monthly", "credits_purchased", "reserved_monthly", "reserved_purchased"),
    *("template__id", "template__name", "template__archived_at"),
    *("stage__id", "stage__total", "stage__succeeded", "stage__failed", "stage__errored", "stage__priority"),
)


def run_summaries(*, user: User) -> QuerySet[WorkflowRun, dict[str, Any]]:
    """`runs_visible` as `RUN_SUMMARY_FIELDS` rows (a list page)."""
    return runs_visible(user=user).select_related(None).values(*RUN_SUMMARY_FIELDS)


def run_get(*, user: User, run_id: UUID | str) -> WorkflowRun:
    return get_scoped(WorkflowRun.objects.select_related("template", "stage"), user=user, pk=run_id)


def file_status_counts(*, run: WorkflowRun) -> dict[str, int]:
    """Files per status, only the statuses that occur."""
    return dict(run.files.values_list("status").annotate(n=Count("id")).order_by())


def run_file_counts(*, run: WorkflowRun) -> dict[str, int]:
    """Files per status, every status present (zero when none)."""
    counts = file_status_counts(run=run)
    return {status: counts.get(status, 0) for status in FileStatus.values}


@dataclass(frozen=True)
class ContinueState:
    can_continue: bool
    reason: str | None  # a stable code when it cannot
    files: int  # files Continue would retry
    charged_files: int
    credits_required: int


def continue_state(
    *, run: WorkflowRun, user: User | None = None, counts: dict[str, int] | None = None
) -> ContinueState:
    """What the Continue button would do now, and why not when it cannot (the same rules as the service,
    read without locks, so the answer can be stale by the time someone clicks). `counts`: the run's
    `run_file_counts`, when the caller has them already."""
    counts = counts if counts is not None else run_file_counts(run=run)
    files = counts[FileStatus.FAILED] + counts[FileStatus.PENDING]
    charged_files = counts[FileStatus.FAILED]
    required = charged_files * run.unit_price  # the price snapshotted at start

    def blocked(reason: str) -> ContinueState:
        return ContinueState(False, reason, files, charged_files, required)

    if user is not None and not user.is_tenant_admin:
        return blocked("role_not_allowed")
    if run.status == RunStatus.RUNNING:
        return blocked("run_running")
    if run.status == RunStatus.COMPLETED:
        return blocked("run_completed")
    if run.status == RunStatus.CANCELLED:
        return blocked("run_cancelled")
    if not files:
        return blocked("nothing_to_retry")
    if run.files.filter(status__in=[FileStatus.FAILED, FileStatus.PENDING], file="").exists():
        return blocked("files_expired")
    if run.files.filter(
        status__in=[FileStatus.FAILED, FileStatus.PENDING], retry_attempt__gte=run.max_retry_count
    ).exists():
        return blocked("max_retry_exceeded")
    if required and credit_account_get(tenant_id=run.tenant_id).total < required:
        return blocked("insufficient_credits")
    return ContinueState(True, None, files, charged_files, required)


def credit_account_get(*, tenant_id: UUID) -> CreditAccount:
    return CreditAccount.objects.filter(pk=tenant_id).first() or CreditAccount(tenant_id=tenant_id)


def price_lookup(*, processor: str, plan: str) -> int | None:
    """Credits per file of `processor` on `plan`: the plan's own price, else the default (blank plan)."""
    prices = dict(
        ProcessorPrice.objects.filter(processor=processor, plan__in={plan, ""}).values_list("plan", "credits_per_file")
    )
    return prices.get(plan, prices.get(""))


def price_for(*, processor: str, tenant_id: UUID) -> int:
    """The price a run of `processor` for the tenant snapshots at start; 400 when the platform has none."""
    plan = CreditAccount.objects.filter(pk=tenant_id).values_list("plan", flat=True).first() or ""
    price = price_lookup(processor=processor, plan=plan)
    if price is None:
        raise ApplicationError(
            f"The processor {processor!r} has no price yet; the platform must price it before it can run.",
            code="processor_not_priced",
        )
    return price


def price_table(*, tenant_id: UUID | None) -> dict[str, int]:
    """processor -> price per file for the tenant's plan (the default prices when no tenant)."""
    plan = CreditAccount.objects.filter(pk=tenant_id).values_list("plan", flat=True).first() or "" if tenant_id else ""
    table: dict[str, int] = {}
    for processor, row_plan, price in ProcessorPrice.objects.filter(plan__in={plan, ""}).values_list(
        "processor", "plan", "credits_per_file"
    ):
        if row_plan == plan or processor not in table:
            table[processor] = price
    return table


def continue_possible(*, run: WorkflowRun) -> bool:
    """Whether Continue could ever run this run's files again (credits and roles aside): some file is
    failed or pending and none of them reached the retry limit. When not, held reservations are released."""
    retryable = run.files.filter(status__in=[FileStatus.FAILED, FileStatus.PENDING])
    return retryable.exists() and not retryable.filter(retry_attempt__gte=run.max_retry_count).exists()


def ledger_entries(
    *,
    tenant_id: UUID,
    run_id: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[CreditLedgerEntry]:
    """The tenant's ledger rows, newest first; `run` and the period [since, until) narrow it."""
    entries = CreditLedgerEntry.objects.filter(tenant_id=tenant_id)
    if run_id is not None:
        entries = entries.filter(run_id=run_id)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    return entries.order_by("-id")


def run_files(*, run: WorkflowRun, status: str | None = None) -> QuerySet[RunFile, Any]:
    """A run's files in index order (the API's row shape: `api.presenters.file_rows`), of one status
    if asked; served by the (run, index) unique index."""
    files = RunFile.objects.filter(run=run)
    if status:
        files = files.filter(status=status)
    return files.order_by("index").values_list(
        "index", "name", "size", "status", "retry_attempt", "error_code", "error_message", "output"
    )
