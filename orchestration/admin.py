from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_actions import require_platform_admin, run_each
from core.exceptions import Conflict

from .errors import JobActionRefused
from .job_actions import job_quarantine, job_requeue
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
    actions = ["requeue_jobs", "quarantine_jobs"]

    @admin.action(description="Re-queue selected jobs (failed or quarantined)")
    def requeue_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        _each_job(self, request, queryset, job_requeue, done="re-queued.")

    @admin.action(description="Quarantine selected jobs (no worker takes them until re-queued)")
    def quarantine_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        _each_job(self, request, queryset, job_quarantine, done="quarantined.")


def _each_job(modeladmin: JobAdmin, request: HttpRequest, queryset: QuerySet[Job], action: Any, *, done: str) -> None:
    """Platform operators only; an engine refusal is shown as the API would answer it (409, its code)."""
    actor = request.user.get_username()

    def one(job: Job) -> object:
        require_platform_admin(request.user)
        try:
            return action(job_id=job.pk, actor=actor)
        except JobActionRefused as exc:
            raise Conflict(exc.message, code=exc.code) from exc

    run_each(modeladmin, request, queryset.order_by("pk"), one, done=done)


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
