from django.db import models


class IdempotencyState(models.TextChoices):
    IN_FLIGHT = "in_flight"  # a request with this key is running (or died: its row lock is gone)
    DONE = "done"  # the first response is stored and replayed


class IdempotencyKey(models.Model):
    """One `Idempotency-Key` of one scope (a tenant, or a tenantless user): the request's fingerprint
    and, once it ended, its response. See `core.idempotency`."""

    scope = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    state = models.CharField(max_length=16, choices=IdempotencyState.choices, default=IdempotencyState.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_unique_per_scope")]
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} [{self.state}]"
