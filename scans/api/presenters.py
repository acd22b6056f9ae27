"""Scans as the API shows them, built from plain rows.

One shape (`scan_body`), fed either from a model (a detail, a create, a console page) or from
`values()` rows (a list page). A page of 50 scans as models with their executions prefetched cost
about 7 ms of CPU (model instances, the prefetch machinery and a DRF field pass); from rows it costs
about 2 ms, and the list is the API's busiest read. The output is plain JSON-able values that DRF's
renderer writes exactly as the `ScanSerializer` field pass did (tests/scans/test_scan_presenters.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from core.renderers import StoredJSON
from orchestration.fairness import lane_label

from ..models import ExecutionStatus, Scan, ServiceExecution, can_retry
from ..selectors import EXECUTION_FIELDS, SCAN_FIELDS, execution_rows

RUNNING = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING)


def service_body(execution: Mapping[str, Any], *, max_attempts: int) -> dict[str, Any]:
    error = None
    if execution["error_code"]:
        error = {
            "code": execution["error_code"],
            "message": execution["error_message"],
            "retryable": execution["error_retryable"],
        }
    return {
        "status": execution["status"],
        "result": execution["result"],
        "executionTimeMs": execution["execution_time_ms"],
        "error": error,
        "retry": {
            "attempts": execution["attempts"],
            "maxAttempts": max_attempts,
            "canRetry": can_retry(
                status=execution["status"],
                error_retryable=execution["error_retryable"],
                attempts=execution["attempts"],
                max_attempts=max_attempts,
            ),
        },
        "round": execution["round"],
        "startedAt": execution["started_at"],
        "finishedAt": execution["finished_at"],
    }


def scan_body(scan: Mapping[str, Any], executions: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """`scan`: the `SCAN_FIELDS`; `executions`: its executions' `EXECUTION_FIELDS` by service. Services
    show in the order the scan chose them."""
    services = {
        name: service_body(executions[name], max_attempts=scan["max_attempts"])
        for name in scan["services"]
        if name in executions
    }
    statuses = [service["status"] for service in services.values()]
    return {
        "id": str(scan["id"]),
        "tenant": str(scan["tenant_id"]),
        "url": scan["url"],
        "keywords": scan["keywords"],
        "status": scan["status"],
        "priority": lane_label(scan["stage__priority"]),
        "maxAttempts": scan["max_attempts"],
        "createdAt": scan["created_at"],
        "startedAt": scan["started_at"],
        "finishedAt": scan["finished_at"],
        "services": services,
        "summary": {
            "total": len(services),
            "success": statuses.count(ExecutionStatus.SUCCESS),
            "failed": statuses.count(ExecutionStatus.FAILED),
            "running": sum(1 for status in statuses if status in RUNNING),
        },
    }


def scan_out(scan: Scan) -> dict[str, Any]:
    """One scan from its model (its executions prefetched or not)."""
    fields = {name: getattr(scan, name) for name in SCAN_FIELDS if name != "stage__priority"}
    fields["stage__priority"] = scan.stage.priority if scan.stage is not None else None
    return scan_body(fields, {execution.service: _execution_fields(execution) for execution in scan.executions.all()})


def scans_out(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A page of `selectors.scan_rows`, with one more query for all of their executions (whose results
    are answered as stored: the API's renderer writes a `StoredJSON` without decoding it)."""
    rows = list(rows)
    executions = execution_rows(scan_ids=[row["id"] for row in rows])
    for by_service in executions.values():
        for execution in by_service.values():
            if execution["result"] is not None:
                execution["result"] = StoredJSON(execution["result"])
    return [scan_body(row, executions.get(row["id"], {})) for row in rows]


def _execution_fields(execution: ServiceExecution) -> dict[str, Any]:
    return {name: getattr(execution, name) for name in EXECUTION_FIELDS}
