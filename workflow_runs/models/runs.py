import uuid

from django.db import models

from core.change_feed import tenant_feeds
from orchestration.models import Stage
from tenants.models import Tenant

from .templates import Template


class RunMode(models.TextChoices):
    PER_FILE = "per_file"  # one engine job per file: key `run:<id>:file:<index>`
    BATCH = "batch"  # one engine job for every file: key `run:<id>`


class RunStatus(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # final: completed files keep their output, the others are refunded


class FileStatus(models.TextChoices):
    PENDING = "pending"  # not processed yet, or interrupted by us (worker lost): retried for free
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"  # a transient error outlived the automatic tries: retried for a charge
    ERROR = "error"  # permanent (invalid file, rejected by the service): never retried
    CANCELLED = "cancelled"  # the run was cancelled before this file completed: refunded


class WorkflowRun(models.Model):
    """A template applied to N uploaded files.

    The fan-in counters mirror the engine stage's *current round* (`total_jobs` is the number of jobs of
    that round, not the number of files): set when a round opens, written by the fan-in when it ends,
    read live from the stage in between. Per-file truth lives in `RunFile`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="workflow_runs")
    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="runs")
    created_by = models.ForeignKey("tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    mode = models.CharField(max_length=16, choices=RunMode.choices, default=RunMode.PER_FILE)
    max_retry_count = models.PositiveSmallIntegerField(default=3)
    status = models.CharField(max_length=32, choices=RunStatus.choices, default=RunStatus.PENDING)
    total_jobs = models.PositiveIntegerField(default=0)
    completed_jobs = models.PositiveIntegerField(default=0)
    failed_jobs = models.PositiveIntegerField(default=0)
    # The snapshot taken at start: Continue and every file of the run use these, never the template's
    # current values (a later template edit or price change does not reach a run already paid for).
    unit_price = models.BigIntegerField(help_text="Credits per file, from the price list at start.")
    processor = models.CharField(max_length=64)
    processor_config = models.JSONField(default=dict, blank=True)
    credits_monthly = models.BigIntegerField(default=0, help_text="Credits captured from the monthly balance.")
    credits_purchased = models.BigIntegerField(default=0, help_text="Credits captured from purchased credits.")
    reserved_monthly = models.BigIntegerField(default=0, help_text="Monthly credits held for unsettled files.")
    reserved_purchased = models.BigIntegerField(default=0, help_text="Purchased credits held for unsettled files.")
    stage = models.OneToOneField(Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="workflow_run")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey("tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                name="run_max_retry_count_1_10", condition=models.Q(max_retry_count__gte=1, max_retry_count__lte=10)
            ),
            models.CheckConstraint(name="run_unit_price_positive", condition=models.Q(unit_price__gt=0)),
            models.CheckConstraint(
                name="run_credits_not_negative",
                condition=models.Q(
                    credits_monthly__gte=0, credits_purchased__gte=0, reserved_monthly__gte=0, reserved_purchased__gte=0
                ),
            ),
            models.CheckConstraint(
                name="run_counters_within_total",
                condition=models.Q(total_jobs__gte=models.F("completed_jobs") + models.F("failed_jobs")),
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} [{self.status}]"

    @property
    def stream(self) -> str:
        return f"run:{self.pk}"

    @property
    def feeds(self) -> tuple[str, ...]:
        """The change feeds its creation and status changes ring (the dashboard's lists)."""
        return tenant_feeds(self.tenant_id)

    @property
    def credits_consumed(self) -> int:
        """Captured: what the run has cost."""
        return self.credits_monthly + self.credits_purchased

    @property
    def credits_reserved(self) -> int:
        return self.reserved_monthly + self.reserved_purchased


class RunFile(models.Model):
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="files")
    index = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    file = models.FileField(upload_to="workflow_runs/", max_length=500)
    size = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=FileStatus.choices, default=FileStatus.PENDING)
    retry_attempt = models.PositiveSmallIntegerField(default=0, help_text="How many times Continue retried it.")
    reserved = models.BooleanField(
        default=False, help_text="Its price is held for the current round and not yet captured or released."
    )
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    output = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="run_file_index_unique")]
        indexes = [models.Index(fields=["run", "status"])]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.index} {self.name} [{self.status}]"
