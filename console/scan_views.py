"""Scan pages: one card per service (status, score, error, "Attempt n/max - can retry") and a retry
of the chosen retryable services, through the services the API calls."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from scans import selectors, services
from scans.api.presenters import scan_out
from scans.api.serializers import ScanRetrySerializer
from scans.models import Scan

from . import live
from .access import attempt, console_user, fragment, require_tenant_admin, tenant_page

LIVE_EVENTS = (
    "scan_started",
    "retry_started",
    "service_started",
    "service_completed",
    "service_failed",
    "service_cancelled",
    "scan_cancel_requested",
    "scan_completed",
    "scan_cancelled",
)
LIVE_TRIGGER = ", ".join(f"sse:{name}" for name in LIVE_EVENTS)


def scan_for(request: HttpRequest, scan_id: Any) -> Scan:
    return selectors.scan_get(user=console_user(request), scan_id=scan_id)


def scan_context(scan: Scan) -> dict[str, Any]:
    body = scan_out(scan)
    cards = []
    for name, service in body["services"].items():
        result = service["result"] if isinstance(service["result"], dict) else {}
        cards.append({"name": name, **service, "score": result.get("score")})
    return {"scan": scan, "body": body, "cards": cards, "live_trigger": LIVE_TRIGGER}


@tenant_page
@require_GET
def scan_page(request: HttpRequest, scan_id: Any) -> HttpResponse:
    scan = scan_for(request, scan_id)
    return render(
        request,
        "console/scan.html",
        {
            **scan_context(scan),
            "events": live.recent_events(stream=scan.stream),
            "last_seq": live.stream_position(stream=scan.stream),
        },
    )


@tenant_page
@require_GET
def services_fragment(request: HttpRequest, scan_id: Any) -> HttpResponse:
    return fragment(request, "console/fragments/scan_services.html", scan_context(scan_for(request, scan_id)))


@tenant_page
@require_GET
def events_fragment(request: HttpRequest, scan_id: Any) -> HttpResponse:
    scan = scan_for(request, scan_id)
    context = {
        "events": live.recent_events(stream=scan.stream),
        "refresh_url": request.path,
        "live_trigger": LIVE_TRIGGER,
    }
    return fragment(request, "console/fragments/event_log.html", context)


@tenant_page
@require_POST
def retry_action(request: HttpRequest, scan_id: Any) -> HttpResponse:
    scan = scan_for(request, scan_id)
    actor = console_user(request)
    chosen = request.POST.getlist("services")

    def retry() -> services.RetryOutcome:
        services.scan_check_may_retry(user=actor, scan=scan)
        serializer = ScanRetrySerializer(data={"services": chosen} if chosen else {})
        serializer.is_valid(raise_exception=True)
        return services.scan_retry(scan=scan, actor=actor, services=serializer.validated_data.get("services"))

    outcome, error = attempt(retry)
    context = {**scan_context(scan_for(request, scan_id)), "outcome": outcome}
    return fragment(request, "console/fragments/scan_services.html", context, error=error)


@tenant_page
@require_POST
def cancel_action(request: HttpRequest, scan_id: Any) -> HttpResponse:
    scan = scan_for(request, scan_id)
    actor = console_user(request)

    def cancel() -> services.CancelOutcome:
        require_tenant_admin(actor)
        return services.scan_cancel(scan=scan, actor=actor)

    _, error = attempt(cancel)
    context = scan_context(scan_for(request, scan_id))
    return fragment(request, "console/fragments/scan_services.html", context, error=error)
