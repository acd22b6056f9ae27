"""Workflow-run pages: counters, credits, the per-file table (paged like `GET …/files`) and Continue,
which shows what it will cost before it is confirmed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from workflow_runs.api.presenters import file_rows, run_summary
from workflow_runs.api.serializers import RunFilesQuerySerializer
from workflow_runs.models import WorkflowRun
from workflow_runs.selectors import continue_state, credit_account_get, run_file_counts, run_files, run_get
from workflow_runs.services.cancel import workflow_run_cancel
from workflow_runs.services.retry import RetryResult, workflow_run_retry_failed

from . import live
from .access import attempt, console_user, fragment, require_tenant_admin, tenant_page

LIVE_EVENTS = (
    "run_started",
    "files_progress",
    "retry_started",
    "run_cancel_requested",
    "run_finished",
    "run_cancelled",
)
LIVE_TRIGGER = ", ".join(f"sse:{name}" for name in LIVE_EVENTS)
PAGE_SIZE = 50


def run_for(request: HttpRequest, run_id: Any) -> WorkflowRun:
    return run_get(user=console_user(request), run_id=run_id)


def summary_context(request: HttpRequest, run: WorkflowRun) -> dict[str, Any]:
    counts = run_file_counts(run=run)
    state = continue_state(run=run, user=console_user(request), counts=counts)
    return {
        "run": run,
        "summary": run_summary(run),
        "counts": counts,
        "files_total": sum(counts.values()),
        "continue": state,
        "free_files": state.files - state.charged_files,
        "account": credit_account_get(tenant_id=run.tenant_id),
        "live_trigger": LIVE_TRIGGER,
    }


def files_context(request: HttpRequest, run: WorkflowRun) -> dict[str, Any]:
    """One page of the run's files through the selector `GET /api/workflow-runs/{id}/files` uses."""
    query = RunFilesQuerySerializer(data={k: v for k, v in request.GET.items() if v})
    query.is_valid(raise_exception=True)
    status = query.validated_data.get("status")
    limit = min(query.validated_data.get("limit") or PAGE_SIZE, settings.RELAY_API_MAX_PAGE_SIZE)
    offset = query.validated_data.get("offset") or 0
    counts = run_file_counts(run=run)
    total = counts.get(status, 0) if status else sum(counts.values())
    rows = file_rows(run_files(run=run, status=status)[offset : offset + limit])
    return {
        "run": run,
        "files": rows,
        "status": status or "",
        "statuses": list(counts),
        "offset": offset,
        "limit": limit,
        "total": total,
        "previous": max(offset - limit, 0) if offset else None,
        "next": offset + limit if offset + limit < total else None,
        "live_trigger": LIVE_TRIGGER,
    }


@tenant_page
@require_GET
def run_page(request: HttpRequest, run_id: Any) -> HttpResponse:
    run = run_for(request, run_id)
    return render(
        request,
        "console/run.html",
        {
            **summary_context(request, run),
            **files_context(request, run),
            "last_seq": live.stream_position(stream=run.stream),
        },
    )


@tenant_page
@require_GET
def summary_fragment(request: HttpRequest, run_id: Any) -> HttpResponse:
    return fragment(request, "console/fragments/run_summary.html", summary_context(request, run_for(request, run_id)))


@tenant_page
@require_GET
def files_fragment(request: HttpRequest, run_id: Any) -> HttpResponse:
    return fragment(request, "console/fragments/run_files.html", files_context(request, run_for(request, run_id)))


def continue_view(request: HttpRequest, run_id: Any) -> HttpResponse:
    """`GET`: Continue's box (or its confirmation step); `POST`: Continue."""
    if request.method == "POST":
        return continue_action(request, run_id)
    return continue_confirm(request, run_id)


@tenant_page
@require_GET
def continue_confirm(request: HttpRequest, run_id: Any) -> HttpResponse:
    """Continue's box; `?step=confirm`: the confirmation step, with what it would retry and cost now."""
    run = run_for(request, run_id)
    context = {**summary_context(request, run), "confirm": request.GET.get("step") == "confirm"}
    return fragment(request, "console/fragments/run_continue.html", context)


@tenant_page
@require_POST
def continue_action(request: HttpRequest, run_id: Any) -> HttpResponse:
    run = run_for(request, run_id)
    actor = console_user(request)

    def retry() -> RetryResult:
        require_tenant_admin(actor)
        return workflow_run_retry_failed(run_id=run.pk, actor=actor)

    result, error = attempt(retry)
    run = run_for(request, run_id)
    context = {**summary_context(request, run), "result": result}
    return fragment(request, "console/fragments/run_continue.html", context, error=error, trigger="run-changed")


@tenant_page
@require_POST
def cancel_action(request: HttpRequest, run_id: Any) -> HttpResponse:
    run = run_for(request, run_id)
    actor = console_user(request)

    def cancel() -> object:
        require_tenant_admin(actor)
        return workflow_run_cancel(run_id=run.pk, actor=actor)

    _, error = attempt(cancel)
    run = run_for(request, run_id)
    context = {**summary_context(request, run), "oob": True}  # the error goes under the summary, not in it
    return fragment(request, "console/fragments/run_summary.html", context, error=error)
