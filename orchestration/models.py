"""The engine's tables. PostgreSQL holds the truth; the broker only says "go look"."""

from django.contrib.postgres.indexes import BrinIndex
from django.db import models


class JobState(models.TextChoices):
    PENDING = "pending"  # recorded, not claimable (its stage is paused)
    QUEUED = "queued"  # claimable once `available_at` has passed
    RUNNING = "running"  # claimed by a worker that holds the lease
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # retryable error, attempts used up
    ERROR = "error"  # fatal error, never retried automatically
    CANCELLED = "cancelled"  # its stage was cancelled before or while it ran
    # Set aside by an operator (`job_actions.job_quarantine`): never claimed, not lost, not finished; its
    # round waits for it (the stage stays running) until an operator re-queues it or the stage is cancelled.
    QUARANTINED = "quarantined"


FINISHED_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.ERROR, JobState.CANCELLED)


class Priority(models.IntegerChoices):
    """Claim order across lanes: a higher priority is always claimed first; within one priority,
    tenants share by fair keys (see `fairness.py`)."""

    BULK = 0, "bulk"  # campaign batches, large runs
    INTERACTIVE = 10, "interactive"  # a scan, a run of a few files: someone is waiting


class StageStatus(models.TextChoices):
    IDLE = "idle"  # created, no round opened yet
    RUNNING = "running"
    PAUSED = "paused"
    FINALISED = "finalised"


class Stage(models.Model):
    """What fans out into jobs: a campaign phase, a workflow run, a scan.

    A retry opens a new `round` over the jobs it re-runs; the counters count the current round only,
    so a partial retry fans in when *its* jobs end.
    """

    kind = models.CharField(max_length=64)
    ref = models.CharField(max_length=200, help_text="The domain object this stage belongs to.")
    stream = models.CharField(max_length=200, blank=True, help_text="Event stream of the owner.")
    fairness_key = models.CharField(
        max_length=100, blank=True, help_text="Who shares the queue fairly with whom (the domain gives `tenant:<id>`)."
    )
    priority = models.SmallIntegerField(choices=Priority.choices, default=Priority.BULK)
    status = models.CharField(max_length=16, choices=StageStatus.choices, default=StageStatus.IDLE)
    round = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errored = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    cancel_requested_at = models.DateTimeField(null=True, blank=True, help_text="Set once; its jobs end `cancelled`.")
    finalised_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "ref"])]
        constraints = [
            models.CheckConstraint(
                name="stage_counters_within_total",
                condition=models.Q(
                    total__gte=models.F("succeeded") + models.F("failed") + models.F("errored") + models.F("cancelled")
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.ref} (round {self.round})"


class Job(models.Model):
    # No index of its own: (stage, round, state) below serves lookups by stage.
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="jobs", db_index=False)
    kind = models.CharField(max_length=64)
    key = models.CharField(max_length=255, help_text="Natural key (`run:<id>:file:<index>`).")
    round = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.QUEUED)
    queue = models.CharField(max_length=64, default="jobs")
    group_key = models.CharField(max_length=100, blank=True, help_text="The stage's fairness key, copied.")
    priority = models.SmallIntegerField(default=Priority.BULK)
    fair_key = models.BigIntegerField(default=0, help_text="Start-time fair queuing tag: claimed in this order.")
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    payload = models.JSONField(default=dict, blank=True)
    origin = models.JSONField(
        null=True,
        blank=True,
        help_text="Who enqueued it: the request id (tenant, user) and trace parent the worker binds again.",
    )
    result = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_retryable = models.BooleanField(null=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the worker that holds it.")
    lease_owner = models.CharField(max_length=64, blank=True, help_text="Token of the current claim.")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    recovery_failures = models.PositiveSmallIntegerField(
        default=0, help_text="Sweeps whose recovery of this job raised; quarantined past a limit."
    )
    available_at = models.DateTimeField(help_text="Not claimed before this (retry backoff, scheduled work).")
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The dedup: at most one live job per key.
            models.UniqueConstraint(
                fields=["key"], condition=models.Q(state__in=["queued", "running"]), name="job_one_live_per_key"
            ),
        ]
        # Every index here is rewritten twice per job (claim and end): keep the list short. History by
        # key is found through the stage; the live key is in the unique index.
        indexes = [
            models.Index(fields=["stage", "round", "state"]),
            models.Index(fields=["lease_expires_at"], condition=models.Q(state="running"), name="job_running_lease"),
            # The claim: due jobs of one queue in priority, then fair order (see `claims.py`).
            models.Index(
                fields=["queue", "-priority", "fair_key", "id"],
                condition=models.Q(state="queued"),
                name="job_claim_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} [{self.state}]"


class FairGroup(models.Model):
    """The last fair key given to one group (tenant) in one lane (queue, priority)."""

    queue = models.CharField(max_length=64)
    priority = models.SmallIntegerField()
    group_key = models.CharField(max_length=100)
    last_key = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "priority", "group_key"], name="fairgroup_one_per_lane"),
        ]

    def __str__(self) -> str:
        return f"{self.group_key or '(shared)'} on {self.queue}/{self.priority}: {self.last_key}"


class FairShare(models.Model):
    """A platform admin's cap on one group's running jobs across every worker (the default is the
    `DEFAULT_MAX_RUNNING` setting). 0 holds the group's work until the cap is raised."""

    group_key = models.CharField(max_length=100, primary_key=True)
    max_running = models.PositiveIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.group_key}: at most {self.max_running} running"


class EventStream(models.Model):
    """One row per stream; bumping `last_seq` under the row lock makes commit order equal seq order."""

    name = models.CharField(max_length=200, primary_key=True)
    last_seq = models.BigIntegerField(default=0)
    # Coalesced progress (`progress.py`): items noted since the last progress event, and when that was.
    # (Database defaults: the engine inserts stream rows in SQL.)
    pending_type = models.CharField(max_length=64, blank=True, db_default="")
    pending_items = models.JSONField(null=True, blank=True)
    pending_truncated = models.BooleanField(db_default=False)
    progress_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["progress_at"], condition=models.Q(pending_items__isnull=False), name="eventstream_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (last seq {self.last_seq})"


class Event(models.Model):
    """Append-only. `seq` increases by one per stream and is the SSE event id (`Last-Event-ID`)."""

    stream = models.CharField(max_length=200)
    seq = models.BigIntegerField()
    type = models.CharField(max_length=64)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "seq"], name="event_stream_seq")]
        # Retention finds old events by age: a BRIN index is a few pages for an append-only table whose
        # rows arrive in time order, and costs the hot insert next to nothing (a B-tree would not).
        indexes = [BrinIndex(fields=["created_at"], name="event_created_brin")]
        ordering = ["stream", "seq"]

    def __str__(self) -> str:
        return f"{self.stream}#{self.seq} {self.type}"
