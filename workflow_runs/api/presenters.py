"""Plain dicts for run responses: built from `values()` so a 10,000-file run renders quickly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestration.fairness import lane_label
from tenants.models import User

from ..models import RunStatus, WorkflowRun
from ..selectors import RUN_SUMMARY_FIELDS, continue_state, run_file_counts, run_files


def round_counters(run: Mapping[str, Any]) -> tuple[int, int, int]:
    """(total, completed, failed) jobs of the current round: live from the engine's stage while the run
    runs, as mirrored on the run by the fan-in otherwise."""
    if run["status"] == RunStatus.RUNNING and run["stage__id"] is not None:
        return run["stage__total"], run["stage__succeeded"], run["stage__failed"] + run["stage__errored"]
    return run["total_jobs"], run["completed_jobs"], run["failed_jobs"]


def summary_fields(run: WorkflowRun) -> dict[str, Any]:
    """A run's `RUN_SUMMARY_FIELDS`, as a `values()` row of them has them."""
    fields: dict[str, Any] = {}
    for name in RUN_SUMMARY_FIELDS:
        value: Any = run
        for part in name.split("__"):
            value = None if value is None else getattr(value, part)
        fields[name] = value
    return fields


def run_summary(run: WorkflowRun) -> dict[str, Any]:
    return summary_body(summary_fields(run))


def summary_body(run: Mapping[str, Any]) -> dict[str, Any]:
    """A run as lists show it, from its `RUN_SUMMARY_FIELDS` (a model's or a `values()` row)."""
    total, completed, failed = round_counters(run)
    return {
        "id": run["id"],
        "tenant": run["tenant_id"],
        "template": {
            "id": run["template__id"],
            "name": run["template__name"],
            "archived": run["template__archived_at"] is not None,
        },
        "mode": run["mode"],
        "status": run["status"],
        "maxRetryCount": run["max_retry_count"],
        "totalJobs": total,
        "completedJobs": completed,
        "failedJobs": failed,
        "processor": run["processor"],
        "unitPrice": run["unit_price"],
        "priority": lane_label(run["stage__priority"]),
        "creditsConsumed": {
            "monthly": run["credits_monthly"],
            "purchased": run["credits_purchased"],
            "total": run["credits_monthly"] + run["credits_purchased"],
        },
        "creditsReserved": {
            "monthly": run["reserved_monthly"],
            "purchased": run["reserved_purchased"],
            "total": run["reserved_monthly"] + run["reserved_purchased"],
        },
        "createdAt": run["created_at"],
        "finishedAt": run["finished_at"],
    }


DETAIL_FILES = 200  # the detail shows the first files; `GET …/files` pages through all of them


def file_rows(rows: Any) -> list[dict[str, Any]]:
    """Rows of `selectors.run_files` as the API shows them."""
    return [
        {
            "index": index,
            "name": name,
            "size": size,
            "status": status,
            "retryAttempt": attempt,
            "errorCode": code,
            "errorMessage": message,
            "output": output,
        }
        for index, name, size, status, attempt, code, message, output in rows
    ]


def run_detail(run: WorkflowRun, *, user: User) -> dict[str, Any]:
    """Bounded whatever the run's size (a 100,000-file run renders as fast as a 10-file one): counts,
    and the first `DETAIL_FILES` files; the rest are paged at `GET /api/workflow-runs/<id>/files`."""
    files = file_rows(run_files(run=run)[:DETAIL_FILES])
    counts = run_file_counts(run=run)
    state = continue_state(run=run, user=user, counts=counts)
    return {
        **run_summary(run),
        "round": run.stage.round if run.stage else 0,
        "fileCounts": counts,
        "files": files,
        "filesTotal": sum(counts.values()),
        "canContinue": state.can_continue,
        "continueBlockedReason": state.reason,
        "continueFiles": state.files,
        "continueCreditsRequired": state.credits_required,
    }
