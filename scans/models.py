"""Scans and their per-service executions. Status rules the database can hold live here; the use cases
that move them live in `services.py`."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from core.change_feed import tenant_feeds
from orchestration.models import Stage
from tenants.models import Tenant


class ScanStatus(models.TextChoices):
    PENDING = "pending"  # created, no service started yet
    RUNNING = "running"
    COMPLETED = "completed"  # every service succeeded
    PARTIAL = "partial"  # some did
    FAILED = "failed"  # none did
    CANCELLED = "cancelled"  # a person cancelled it; services that had finished keep their results


# The only moves a scan may make; `Scan.check_transition` enforces them for every writer.
SCAN_TRANSITIONS: dict[str, frozenset[str]] = {
    ScanStatus.PENDING: frozenset({ScanStatus.RUNNING, ScanStatus.FAILED, ScanStatus.CANCELLED}),
    ScanStatus.RUNNING: frozenset({ScanStatus.COMPLETED, ScanStatus.PARTIAL, ScanStatus.FAILED, ScanStatus.CANCELLED}),
    ScanStatus.COMPLETED: frozenset({ScanStatus.RUNNING}),  # a retry
    ScanStatus.PARTIAL: frozenset({ScanStatus.RUNNING}),
    ScanStatus.FAILED: frozenset({ScanStatus.RUNNING}),
    ScanStatus.CANCELLED: frozenset(),  # final
}
FINAL_STATUSES = (ScanStatus.COMPLETED, ScanStatus.PARTIAL, ScanStatus.FAILED, ScanStatus.CANCELLED)


class InvalidTransition(Exception):
    def __init__(self, kind: str, current: str, target: str) -> None:
        super().__init__(f"a {kind} cannot move from {current} to {target}")
        self.current = current
        self.target = target


def scan_stream(scan_id: Any) -> str:
    """The scan's event stream (SSE at /api/scans/<id>/events)."""
    return f"scan:{scan_id}"


class Scan(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="scans")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="scans"
    )
    url = models.URLField(max_length=2000)
    keywords = models.JSONField(default=list, blank=True)
    services = models.JSONField(default=list, help_text="The services chosen for this scan, in order.")
    max_attempts = models.PositiveSmallIntegerField(default=2, help_text="Runs allowed per service, first included.")
    status = models.CharField(max_length=16, choices=ScanStatus.choices, default=ScanStatus.PENDING)
    stage = models.OneToOneField(Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="scan")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"])]
        constraints = [
            models.CheckConstraint(name="scan_status_valid", condition=models.Q(status__in=ScanStatus.values)),
            models.CheckConstraint(name="scan_max_attempts_positive", condition=models.Q(max_attempts__gte=1)),
        ]

    def __str__(self) -> str:
        return f"scan {self.pk} {self.url} [{self.status}]"

    @property
    def stream(self) -> str:
        return scan_stream(self.pk)

    @property
    def feeds(self) -> tuple[str, ...]:
        """The change feeds its creation and status changes ring (the dashboard's lists)."""
        return tenant_feeds(self.tenant_id)

    def check_transition(self, target: str) -> None:
        if target not in SCAN_TRANSITIONS[self.status]:
            raise InvalidTransition("scan", self.status, target)


class ExecutionStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"


EXECUTION_TRANSITIONS: dict[str, frozenset[str]] = {
    ExecutionStatus.PENDING: frozenset(
        {ExecutionStatus.RUNNING, ExecutionStatus.SUCCESS, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}
    ),
    ExecutionStatus.RUNNING: frozenset({ExecutionStatus.SUCCESS, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}),
    ExecutionStatus.CANCELLED: frozenset(),
    ExecutionStatus.SUCCESS: frozenset(),  # a success is never run again
    ExecutionStatus.FAILED: frozenset({ExecutionStatus.PENDING}),  # a retry
}


class ServiceExecution(models.Model):
    """One service of one scan. `attempts` counts the runs a person asked for (the first run is 1, each
    accepted retry adds one); the engine's own re-run after a lost worker is not an attempt."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="executions")
    service = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING)
    result = models.JSONField(null=True, blank=True)
    execution_time_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_retryable = models.BooleanField(null=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    round = models.PositiveIntegerField(default=1, help_text="The engine round of the last run.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["scan", "id"]
        constraints = [
            models.UniqueConstraint(fields=["scan", "service"], name="scan_service_once"),
            models.CheckConstraint(
                name="execution_status_valid", condition=models.Q(status__in=ExecutionStatus.values)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scan_id}:{self.service} [{self.status}]"

    def check_transition(self, target: str) -> None:
        if target not in EXECUTION_TRANSITIONS[self.status]:
            raise InvalidTransition("service execution", self.status, target)

    def can_retry(self, max_attempts: int) -> bool:
        return can_retry(
            status=self.status, error_retryable=self.error_retryable, attempts=self.attempts, max_attempts=max_attempts
        )


def can_retry(*, status: str, error_retryable: bool | None, attempts: int, max_attempts: int) -> bool:
    """Whether a service execution may run again: it failed, not for good, with attempts left."""
    return status == ExecutionStatus.FAILED and error_retryable is not False and attempts < max_attempts


class PageState(models.TextChoices):
    FETCHING = "fetching"  # a service job holds the claim and is fetching
    READY = "ready"
    FAILED = "failed"  # the fetch failed: every service of the round reports the same error


class ScanPage(models.Model):
    """The scanned page, fetched once per scan round and shared by the round's services, whichever
    workers they run on (`scans/pages.py`). Deleted when the round is finalised."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="+")
    round = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=PageState.choices, default=PageState.FETCHING)
    claim_token = models.CharField(max_length=32)
    claim_expires_at = models.DateTimeField()
    final_url = models.CharField(max_length=2000, blank=True)
    status = models.PositiveSmallIntegerField(null=True)
    headers = models.JSONField(default=dict)
    html = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_retryable = models.BooleanField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scan", "round"], name="scan_page_once_per_round")]

    def __str__(self) -> str:
        return f"{self.scan_id} round {self.round} [{self.state}]"
