import uuid

from django.db import models

from core.change_feed import tenant_feeds
from orchestration.models import Stage
from tenants.models import Tenant

from ..phases import Phase


class CampaignMode(models.TextChoices):
    STEP_BY_STEP = "step_by_step"
    FULL_SEQUENCE = "full_sequence"


class CampaignStatus(models.TextChoices):
    IDLE = "idle"  # no phase running: before the first start, or between manual starts
    RUNNING = "running"
    PAUSED = "paused"  # a running phase was paused (by a person, a lost worker or a restart)
    FAILED = "failed"  # a phase failed: the pipeline waits for its retry
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # final: a person cancelled it; what finished is kept


class PhaseStatus(models.TextChoices):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"  # its campaign was cancelled while it ran or was paused


class Campaign(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    mode = models.CharField(max_length=16, choices=CampaignMode.choices, default=CampaignMode.STEP_BY_STEP)
    status = models.CharField(max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.IDLE)
    queue = models.CharField(
        max_length=64, blank=True, help_text="Broker queue for this campaign's jobs (blank: the shared `jobs` queue)."
    )
    created_by = models.ForeignKey("tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey("tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def stream(self) -> str:
        return f"campaign:{self.pk}"

    @property
    def feeds(self) -> tuple[str, ...]:
        """The change feeds its creation and status changes ring (the dashboard's lists)."""
        return tenant_feeds(self.tenant_id)


class PausedReason(models.TextChoices):
    NONE = ""
    USER = "user"
    RESTART = "restart"
    WORKER_LOST = "worker_lost"


class CampaignPhase(models.Model):
    """One row per (campaign, phase), created with the campaign. Its engine stage is made at first start."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="phases")
    phase = models.CharField(max_length=32, choices=Phase.choices)
    status = models.CharField(max_length=16, choices=PhaseStatus.choices, default=PhaseStatus.NOT_STARTED)
    stage = models.OneToOneField(Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    paused_reason = models.CharField(max_length=16, choices=PausedReason.choices, blank=True)
    recovery_token = models.CharField(
        max_length=32, blank=True, help_text="Set by the restart recovery that paused it."
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Times the phase was started (first run + retries).")
    config_snapshot = models.JSONField(
        null=True,
        blank=True,
        help_text="The phase's config as it first started: retries and resumes run this, not later edits.",
    )
    checkpoint_round = models.PositiveIntegerField(
        default=0, help_text="Stage rounds before this one belong to a run discarded by a restart from scratch."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "phase"], name="campaign_phase_unique")]
        indexes = [models.Index(fields=["status", "-updated_at"], name="campaign_phase_status")]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.phase} [{self.status}]"


class PhaseConfig(models.Model):
    """What the user asked a phase to do; validated on write, read again whenever the phase starts."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="phase_configs")
    phase = models.CharField(max_length=32, choices=Phase.choices)
    config = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "phase"], name="phase_config_unique")]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.phase}"
