"""The dashboard: the tenant's campaigns, runs and scans with their status, live from the tenant's
change feed (`feed_views.py`: the lists fragment is fetched again on each `changed` frame), and the
forms that start new ones."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from campaigns import selectors as campaign_selectors
from campaigns.api.serializers import CampaignCreateSerializer
from campaigns.services.campaigns import campaign_create
from core.exceptions import ApplicationError
from scans import checks
from scans import selectors as scan_selectors
from scans import services as scan_services
from scans.api.serializers import ScanCreateSerializer
from scans.conf import DEFAULT_SERVICES
from tenants.models import Tenant
from tenants.selectors import acting_tenant
from workflow_runs.api.presenters import run_summary
from workflow_runs.api.serializers import RunStartSerializer
from workflow_runs.models import RunMode
from workflow_runs.selectors import run_get, runs_visible, templates_visible
from workflow_runs.services.runs import workflow_run_start

from .access import attempt, console_user, fragment, tenant_page

LIST_SIZE = 20


def lists_context(request: HttpRequest) -> dict[str, Any]:
    user = console_user(request)
    runs = runs_visible(user=user).order_by("-created_at")[:LIST_SIZE]
    return {
        "campaigns": campaign_selectors.campaign_list(user=user).order_by("-created_at")[:LIST_SIZE],
        "runs": [run_summary(run) for run in runs],
        "scans": scan_selectors.scan_list(user=user)[:LIST_SIZE],
    }


def forms_context(request: HttpRequest) -> dict[str, Any]:
    user = console_user(request)
    return {
        "templates": templates_visible(user=user).order_by("name"),
        "run_modes": RunMode.values,
        "scan_services": checks.names(),
        "default_services": DEFAULT_SERVICES,
        # A platform admin names the tenant it acts for (as in the API).
        "tenants": Tenant.objects.order_by("name") if user.is_platform_admin else [],
    }


@tenant_page
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "console/dashboard.html", {**lists_context(request), **forms_context(request)})


@tenant_page
@require_GET
def lists_fragment(request: HttpRequest) -> HttpResponse:
    return fragment(request, "console/fragments/dashboard_lists.html", lists_context(request))


def _created(url: str) -> HttpResponse:
    response = HttpResponse(status=200)
    response["HX-Redirect"] = url
    return response


@tenant_page
@require_POST
def campaign_new(request: HttpRequest) -> HttpResponse:
    user = console_user(request)

    def create() -> str:
        serializer = CampaignCreateSerializer(data=request.POST)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tenant = acting_tenant(user=user, tenant_id=data.get("tenant"))
        campaign = campaign_create(tenant=tenant, name=data["name"], mode=data.get("mode"), actor=user)
        return reverse("console:campaign", args=[campaign.pk])

    url, error = attempt(create)
    if url:
        return _created(url)
    return fragment(request, "console/fragments/form_error.html", {"form_id": "new-campaign"}, error=error)


@tenant_page
@require_POST
def run_new(request: HttpRequest) -> HttpResponse:
    user = console_user(request)
    # The API reads one multipart body: the form's fields and its files side by side.
    data: dict[str, Any] = {**request.POST.dict(), "files": request.FILES.getlist("files")}

    def start() -> str:
        serializer = RunStartSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        clean = serializer.validated_data
        tenant = acting_tenant(user=user, tenant_id=clean.get("tenant"))
        template = templates_visible(user=user).filter(pk=clean["template"]).first()
        if template is None or template.tenant_id not in (None, tenant.pk):
            raise ApplicationError("Unknown template.", fields={"template": ["No such template."]})
        run = workflow_run_start(
            tenant=tenant,
            actor=user,
            template=template,
            uploads=clean["files"],
            mode=clean["mode"],
            max_retry_count=clean["max_retry_count"],
        )
        return reverse("console:run", args=[run_get(user=user, run_id=run.pk).pk])

    url, error = attempt(start)
    if url:
        return _created(url)
    return fragment(request, "console/fragments/form_error.html", {"form_id": "new-run"}, error=error)


@tenant_page
@require_POST
def scan_new(request: HttpRequest) -> HttpResponse:
    user = console_user(request)
    body: dict[str, Any] = {"url": request.POST.get("url", ""), "services": request.POST.getlist("services")}
    if request.POST.get("max_attempts"):
        body["max_attempts"] = request.POST["max_attempts"]
    if request.POST.get("tenant"):
        body["tenant"] = request.POST["tenant"]
    keywords = [word.strip() for word in request.POST.get("keywords", "").split(",") if word.strip()]
    if keywords:
        body["keywords"] = keywords

    def create() -> str:
        serializer = ScanCreateSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tenant = acting_tenant(user=user, tenant_id=data.get("tenant"))
        scan = scan_services.scan_create(
            tenant=tenant,
            actor=user,
            url=data["url"],
            services=data["services"],
            keywords=data["keywords"],
            max_attempts=data["max_attempts"],
        )
        return reverse("console:scan", args=[scan.pk])

    url, error = attempt(create)
    if url:
        return _created(url)
    return fragment(request, "console/fragments/form_error.html", {"form_id": "new-scan"}, error=error)
