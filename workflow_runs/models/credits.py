from django.db import models

from tenants.models import Tenant


class CreditSource(models.TextChoices):
    MONTHLY = "monthly"
    PURCHASED = "purchased"


class CreditReason(models.TextChoices):
    """What a ledger row moved, between the account's buckets (see `LEDGER_MOVES`)."""

    GRANT = "grant"  # a platform admin's grant or the monthly allowance: → available
    PURCHASE = "purchase"  # → available
    RESERVE = "reserve"  # a run's start or Continue holds files x price: available → reserved
    CAPTURE = "capture"  # a file's round ended with the customer's outcome: reserved → captured
    RELEASE = "release"  # a file's round ended with the platform's outcome (or never ran): reserved → available
    EXPIRE = "expire"  # the monthly reset takes back unspent monthly credits: available →
    CHARGE = "charge"  # historic rows from before reservations: available → captured
    REFUND = "refund"  # historic: captured → available


# reason -> (bucket taken from, bucket put into); None is outside the account. Every ledger amount is
# positive; the reason says which way it moved. Reconciliation and the balance columns follow this table.
LEDGER_MOVES: dict[str, tuple[str | None, str | None]] = {
    CreditReason.GRANT: (None, "available"),
    CreditReason.PURCHASE: (None, "available"),
    CreditReason.RESERVE: ("available", "reserved"),
    CreditReason.CAPTURE: ("reserved", "captured"),
    CreditReason.RELEASE: ("reserved", "available"),
    CreditReason.EXPIRE: ("available", None),
    CreditReason.CHARGE: ("available", "captured"),
    CreditReason.REFUND: ("captured", "available"),
}


class CreditAccount(models.Model):
    """A tenant's balances: a cache of the ledger, always moved in the same transaction as a ledger row,
    under `select_for_update` of this row (the per-tenant money lock).

    `monthly_balance + purchased_balance` is what the tenant can spend; `reserved_balance` is held by
    runs whose files have not ended; `captured_balance` is what was earned; `granted_balance` is the net
    of grants, purchases and expiries. The CHECKs make an overdraft, and any drift between the buckets,
    impossible even for a bug that skips the service.
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.PROTECT, primary_key=True, related_name="credit_account")
    plan = models.CharField(
        max_length=32, blank=True, default="", help_text="The price plan; blank uses the default prices."
    )
    monthly_balance = models.BigIntegerField(default=0)
    purchased_balance = models.BigIntegerField(default=0)
    reserved_balance = models.BigIntegerField(default=0)
    captured_balance = models.BigIntegerField(default=0)
    granted_balance = models.BigIntegerField(default=0)
    monthly_allowance = models.BigIntegerField(
        default=0, help_text="Monthly credits granted at each month's reset (unspent ones expire); 0: none."
    )
    monthly_reset_at = models.DateTimeField(null=True, blank=True, help_text="When the last monthly reset ran.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(name="credit_monthly_not_negative", condition=models.Q(monthly_balance__gte=0)),
            models.CheckConstraint(name="credit_purchased_not_negative", condition=models.Q(purchased_balance__gte=0)),
            models.CheckConstraint(name="credit_reserved_not_negative", condition=models.Q(reserved_balance__gte=0)),
            models.CheckConstraint(name="credit_captured_not_negative", condition=models.Q(captured_balance__gte=0)),
            models.CheckConstraint(name="credit_allowance_not_negative", condition=models.Q(monthly_allowance__gte=0)),
            models.CheckConstraint(
                name="credit_buckets_add_up_to_granted",
                condition=models.Q(
                    granted_balance=models.F("monthly_balance")
                    + models.F("purchased_balance")
                    + models.F("reserved_balance")
                    + models.F("captured_balance")
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"credits of {self.tenant_id}: {self.monthly_balance} monthly + {self.purchased_balance} purchased"

    @property
    def total(self) -> int:
        """What the tenant can spend now."""
        return self.monthly_balance + self.purchased_balance


class CreditLedgerEntry(models.Model):
    """Append-only (a database trigger refuses UPDATE and DELETE): one row per movement of one source.
    `amount` is positive; `reason` says between which buckets it moved (`LEDGER_MOVES`)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="credit_entries")
    run = models.ForeignKey(
        "workflow_runs.WorkflowRun", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_entries"
    )
    amount = models.BigIntegerField()
    source = models.CharField(max_length=16, choices=CreditSource.choices)
    reason = models.CharField(max_length=16, choices=CreditReason.choices)
    round = models.PositiveIntegerField(null=True, blank=True, help_text="The run's round this movement belongs to.")
    files = models.PositiveIntegerField(null=True, blank=True, help_text="How many files this movement covers.")
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey("tenants.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["tenant", "-id"]), models.Index(fields=["run"])]
        constraints = [
            models.CheckConstraint(name="credit_entry_positive", condition=models.Q(amount__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.reason} {self.amount} {self.source}"


class ProcessorPrice(models.Model):
    """The platform's price list: credits per file for a processor, for one plan or (blank plan) for
    every plan without its own row. Only platform admins write it; a run snapshots its price at start."""

    processor = models.CharField(max_length=64)
    plan = models.CharField(max_length=32, blank=True, default="")
    credits_per_file = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey("tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["processor", "plan"]
        constraints = [
            models.UniqueConstraint(fields=["processor", "plan"], name="processor_price_unique"),
            models.CheckConstraint(name="processor_price_positive", condition=models.Q(credits_per_file__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.processor}[{self.plan or 'default'}] = {self.credits_per_file}"
