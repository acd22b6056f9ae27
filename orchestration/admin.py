from django.contrib import admin

from .models import Event, Job, Stage


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin[Stage]):
    list_display = ["id", "kind", "ref", "status", "round", "total", "succeeded", "failed", "errored", "finalised_at"]
    list_filter = ["kind", "status"]
    search_fields = ["ref"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = [
        "id",
        "key",
        "kind",
        "state",
        "round",
        "attempts",
        "max_attempts",
        "worker",
        "error_code",
        "lease_expires_at",
    ]
    list_filter = ["state", "kind", "queue"]
    search_fields = ["key"]
    raw_id_fields = ["stage"]
    readonly_fields = [field.name for field in Job._meta.fields]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin[Event]):
    list_display = ["id", "stream", "seq", "type", "created_at"]
    list_filter = ["type"]
    search_fields = ["stream"]
    readonly_fields = ["stream", "seq", "type", "payload", "created_at"]

    def has_add_permission(self, request: object) -> bool:
        return False  # the log is append-only, written by the system
