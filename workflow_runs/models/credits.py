from django.db import models

from tenants.models import Tenant


class CreditSource(models.TextChoices):
    MONTHLY = "monthly"
    PURCHASED = "purchased"


class CreditReason(models.TextChoices):
    CHARGE = "charge"
    REFUND = "refund"
    GRANT = "grant"
    PURCHASE = "purchase"


class CreditAccount(models.Model):
    """A tenant's balances: a cache of the ledger, always moved in the same transaction as a ledger row,
    under `select_for_update` of this row (the per-tenant money lock). The CHECKs make an overdraft
    impossible even for a bug that skips the service."""

    tenant = models.OneToOneField(Tenant, on_delete=models.PROTECT, primary_key=True, related_name="credit_account")
    monthly_balance = models.BigIntegerField(default=0)
    purchased_balance = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(name="credit_monthly_not_negative", condition=models.Q(monthly_balance__gte=0)),
            models.CheckConstraint(name="credit_purchased_not_negative", condition=models.Q(purchased_balance__gte=0)),
        ]

    def __str__(self) -> str:
        return f"credits of {self.tenant_id}: {self.monthly_balance} monthly + {self.purchased_balance} purchased"

    @property
    def total(self) -> int:
        return self.monthly_balance + self.purchased_balance


class CreditLedgerEntry(models.Model):
    """Append-only: one row per movement of one source. Positive adds credits, negative spends them."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="credit_entries")
    run = models.ForeignKey(
        "workflow_runs.WorkflowRun", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_entries"
    )
    amount = models.BigIntegerField()
    source = models.CharField(max_length=16, choices=CreditSource.choices)
    reason = models.CharField(max_length=16, choices=CreditReason.choices)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey("tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["tenant", "-id"]), models.Index(fields=["run"])]
        constraints = [
            models.CheckConstraint(name="credit_entry_not_zero", condition=~models.Q(amount=0)),
            models.CheckConstraint(
                name="credit_entry_sign_matches_reason",
                condition=(
                    models.Q(reason="charge", amount__lt=0)
                    | models.Q(reason__in=["refund", "grant", "purchase"], amount__gt=0)
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason} {self.amount:+d} {self.source}"
