from django.contrib import admin

from .models import Event, FairShare, Job, Stage


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin[Stage]):
    list_display = [
        "id",
        "kind",
        "ref",
        "fairness_key",
        "priority",
        "status",
        "round",
        "total",
        "succeeded",
        "failed",
        "errored",
        "cancelled",
        "finalised_at",
    ]
    list_filter = ["kind", "status", "priority"]
    search_fields = ["ref", "fairness_key"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = [
        "id",
        "key",
        "kind",
        "state",
        "group_key",
        "priority",
        "fair_key",
        "round",
        "attempts",
        "max_attempts",
        "worker",
        "error_code",
        "lease_expires_at",
    ]
    list_filter = ["state", "kind", "queue", "priority"]
    search_fields = ["key", "group_key"]
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


@admin.register(FairShare)
class FairShareAdmin(admin.ModelAdmin[FairShare]):
    """Caps on running jobs per fairness group (`tenant:<id>`); groups without a row use the default."""

    list_display = ["group_key", "max_running", "updated_at"]
    search_fields = ["group_key"]
