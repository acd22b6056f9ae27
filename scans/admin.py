from typing import Any

from django.contrib import admin

from .models import Scan, ServiceExecution

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
class ScanAdmin(admin.ModelAdmin[Scan]):
    list_display = ["id", "tenant", "url", "status", "max_attempts", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["url", "id"]
    raw_id_fields = ["tenant", "created_by", "stage"]
    readonly_fields = ["status", "stage", "created_at", "started_at", "finished_at"]
    inlines = [ServiceExecutionInline]


@admin.register(ServiceExecution)
class ServiceExecutionAdmin(admin.ModelAdmin[ServiceExecution]):
    list_display = ["id", "scan", "service", "status", "attempts", "error_code", "execution_time_ms"]
    list_filter = ["service", "status"]
    raw_id_fields = ["scan"]
    readonly_fields = ["result"]
