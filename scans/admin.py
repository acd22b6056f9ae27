from collections import defaultdict
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_actions import require_tenant_admin, run_each
from tenants.admin_scoping import TenantScopedAdmin, admin_user

from .models import Scan, ServiceExecution
from .services import scan_cancel, scan_check_may_retry, scan_retry

_EXECUTION_FIELDS: Any = [
    "service",
    "status",
    "attempts",
    "round",
    "error_code",
    "error_retryable",
    "execution_time_ms",
    "finished_at",
]


class ServiceExecutionInline(admin.TabularInline[ServiceExecution, Scan]):
    model = ServiceExecution
    extra = 0
    can_delete = False
    fields = _EXECUTION_FIELDS
    readonly_fields = _EXECUTION_FIELDS


@admin.register(Scan)
class ScanAdmin(TenantScopedAdmin[Scan]):
    list_display = ["id", "tenant", "url", "status", "max_attempts", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["url", "id"]
    raw_id_fields = ["tenant", "created_by", "stage"]
    readonly_fields = ["status", "stage", "created_at", "started_at", "finished_at"]
    inlines = [ServiceExecutionInline]
    actions = ["cancel_scans"]

    @admin.action(description="Cancel the selected scans")
    def cancel_scans(self, request: HttpRequest, queryset: QuerySet[Scan]) -> None:
        actor = admin_user(request)

        def cancel(scan: Scan) -> object:
            require_tenant_admin(actor)
            return scan_cancel(scan=scan, actor=actor)

        run_each(self, request, queryset.order_by("pk"), cancel, done="cancel requested.")


@admin.register(ServiceExecution)
class ServiceExecutionAdmin(TenantScopedAdmin[ServiceExecution]):
    tenant_field = "scan__tenant"
    list_display = ["id", "scan", "service", "status", "attempts", "error_code", "error_retryable", "execution_time_ms"]
    list_filter = ["service", "status", "error_retryable"]
    search_fields = ["scan__url", "scan__id"]
    raw_id_fields = ["scan"]
    readonly_fields = ["result"]
    actions = ["retry_services"]

    @admin.action(description="Retry the selected services (per scan, as the API's retry)")
    def retry_services(self, request: HttpRequest, queryset: QuerySet[ServiceExecution]) -> None:
        actor = admin_user(request)
        chosen: dict[Any, list[str]] = defaultdict(list)
        for scan_id, service in queryset.order_by("scan_id", "pk").values_list("scan_id", "service"):
            chosen[scan_id].append(service)
        scans = Scan.objects.filter(pk__in=chosen).order_by("pk")

        def retry(scan: Scan) -> object:
            scan_check_may_retry(user=actor, scan=scan)
            return scan_retry(scan=scan, actor=actor, services=chosen[scan.pk])

        run_each(self, request, scans, retry, done="retry started.")
