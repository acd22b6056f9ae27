"""Reads and derived state: which services may be retried, and why not."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from tenants.models import User
from tenants.selectors import get_scoped, scoped

from .models import ExecutionStatus, Scan, ServiceExecution

# What a list page reads of a scan and of its executions (`api/presenters.py` shapes them).
SCAN_FIELDS = (
    "id",
    "tenant_id",
    "url",
    "keywords",
    "services",
    "status",
    "max_attempts",
    "created_at",
    "started_at",
    "finished_at",
    "stage__priority",
)
EXECUTION_FIELDS = (
    "scan_id",
    "service",
    "status",
    "result",
    "execution_time_ms",
    "error_code",
    "error_message",
    "error_retryable",
    "attempts",
    "round",
    "started_at",
    "finished_at",
)


class RetryRejection:
    RETRY_LIMIT_EXCEEDED = "RETRY_LIMIT_EXCEEDED"
    NOT_RETRYABLE = "NOT_RETRYABLE"
    NOT_FAILED = "NOT_FAILED"
    UNKNOWN_SERVICE = "UNKNOWN_SERVICE"


def scan_list(*, user: User, status: str | None = None) -> QuerySet[Scan]:
    scans = scoped(
        Scan.objects.select_related("stage").prefetch_related("executions").order_by("-created_at", "id"), user=user
    )
    return scans.filter(status=status) if status else scans


def scan_rows(*, user: User, status: str | None = None) -> QuerySet[Scan, dict[str, Any]]:
    """`scan_list` as `SCAN_FIELDS` rows (a list page without model instances)."""
    return scan_list(user=user, status=status).select_related(None).prefetch_related(None).values(*SCAN_FIELDS)


def execution_rows(*, scan_ids: list[Any]) -> dict[Any, dict[str, dict[str, Any]]]:
    """The `EXECUTION_FIELDS` of these scans' executions: scan id → service → row. `result` is the
    stored JSON's text (or None): decoding it only to encode it again was most of a list page's cost."""
    rows: dict[Any, dict[str, dict[str, Any]]] = {}
    fields = [name for name in EXECUTION_FIELDS if name != "result"]
    executions = ServiceExecution.objects.filter(scan_id__in=scan_ids).order_by()
    for row in executions.values(*fields, result_text=Cast("result", TextField())):
        row["result"] = row.pop("result_text")
        rows.setdefault(row["scan_id"], {})[row["service"]] = row
    return rows


def scan_get(*, user: User, scan_id: Any) -> Scan:
    return get_scoped(Scan.objects.select_related("stage").prefetch_related("executions"), user=user, pk=scan_id)


def executions_by_service(scan: Scan) -> dict[str, ServiceExecution]:
    """In the order the scan chose its services."""
    rows = {execution.service: execution for execution in scan.executions.all()}
    return {name: rows[name] for name in scan.services if name in rows}


def retry_rejection(*, scan: Scan, service: str, execution: ServiceExecution | None) -> tuple[str, str] | None:
    """Why `service` cannot be retried now, as (code, message); None when it can."""
    if execution is None:
        return RetryRejection.UNKNOWN_SERVICE, f"Service {service!r} is not part of this scan."
    if execution.status != ExecutionStatus.FAILED:
        return RetryRejection.NOT_FAILED, f"Service {service!r} is {execution.status}; only failed services retry."
    if execution.error_retryable is False:
        return RetryRejection.NOT_RETRYABLE, (
            f"Service {service!r} failed with a non-retryable error ({execution.error_code})."
        )
    if execution.attempts >= scan.max_attempts:
        return RetryRejection.RETRY_LIMIT_EXCEEDED, (
            f"Service {service!r} has exceeded maximum retry attempts ({scan.max_attempts})."
        )
    return None


def retry_metadata(*, scan: Scan, execution: ServiceExecution) -> dict[str, Any]:
    return {
        "attempts": execution.attempts,
        "maxAttempts": scan.max_attempts,
        "canRetry": execution.can_retry(scan.max_attempts),
    }


def retry_status(*, scan: Scan) -> dict[str, Any]:
    executions = executions_by_service(scan)
    metadata = {
        name: {"status": execution.status, **retry_metadata(scan=scan, execution=execution)}
        for name, execution in executions.items()
    }
    retryable = [name for name, meta in metadata.items() if meta["canRetry"]]
    return {
        "scanId": str(scan.pk),
        "status": scan.status,
        "hasRetryableServices": bool(retryable),
        "retryableServices": retryable,
        "failedServices": [name for name, meta in metadata.items() if meta["status"] == ExecutionStatus.FAILED],
        "retryMetadata": metadata,
    }
