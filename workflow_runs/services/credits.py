"""Money moves here and only here: every change of a balance is a ledger row in the same transaction,
taken under `select_for_update` of the tenant's `CreditAccount` row.

Lock order (see `services/runs.py`): the run row, then the credit account, then the engine's rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from django.db import connection, transaction
from django.db.models import F

from core.exceptions import ApplicationError, PaymentRequired
from orchestration import metrics
from tenants.models import Tenant, User

from ..models import CreditAccount, CreditLedgerEntry, CreditReason, CreditSource, WorkflowRun

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Movement:
    monthly: int = 0  # credits moved from (charge) or to (refund) the monthly balance
    purchased: int = 0

    @property
    def total(self) -> int:
        return self.monthly + self.purchased


def credit_account_lock(*, tenant: Tenant | UUID) -> CreditAccount:
    """The tenant's account row, created if missing, locked until the end of the transaction."""
    assert connection.in_atomic_block, "lock the account inside the caller's transaction"
    tenant_id = tenant.pk if isinstance(tenant, Tenant) else tenant
    with connection.cursor() as cursor:
        # A plain get_or_create would race two first-time callers into an IntegrityError.
        cursor.execute(
            "INSERT INTO workflow_runs_creditaccount (tenant_id, monthly_balance, purchased_balance, updated_at) "
            "VALUES (%s, 0, 0, now()) ON CONFLICT (tenant_id) DO NOTHING",
            [tenant_id],
        )
    return CreditAccount.objects.select_for_update().get(pk=tenant_id)


def _apply(
    *,
    account: CreditAccount,
    run: WorkflowRun | None,
    reason: str,
    monthly: int,
    purchased: int,
    actor: User | None = None,
    note: str = "",
) -> None:
    entries = [
        CreditLedgerEntry(
            tenant_id=account.pk, run=run, amount=amount, source=source, reason=reason, note=note, created_by=actor
        )
        for source, amount in ((CreditSource.MONTHLY, monthly), (CreditSource.PURCHASED, purchased))
        if amount != 0
    ]
    if not entries:
        return
    CreditLedgerEntry.objects.bulk_create(entries)
    CreditAccount.objects.filter(pk=account.pk).update(
        monthly_balance=F("monthly_balance") + monthly, purchased_balance=F("purchased_balance") + purchased
    )
    account.monthly_balance += monthly
    account.purchased_balance += purchased
    if run is not None:
        WorkflowRun.objects.filter(pk=run.pk).update(
            credits_monthly=F("credits_monthly") - monthly, credits_purchased=F("credits_purchased") - purchased
        )
        run.credits_monthly -= monthly
        run.credits_purchased -= purchased


def credits_charge(
    *, account: CreditAccount, run: WorkflowRun, amount: int, actor: User | None = None, note: str = ""
) -> Movement:
    """Spend `amount` for `run`, monthly credits first; all or nothing (402 when short).

    `account` must be locked by `credit_account_lock` in the current transaction.
    """
    if amount < 0:
        raise ValueError("a charge is a positive amount")
    if amount == 0:
        return Movement()
    if account.total < amount:
        raise PaymentRequired(
            f"This needs {amount} credits; the tenant has {account.total}.",
            extra={"creditsRequired": amount, "creditsAvailable": account.total},
        )
    monthly = min(amount, account.monthly_balance)
    purchased = amount - monthly
    _apply(
        account=account,
        run=run,
        reason=CreditReason.CHARGE,
        monthly=-monthly,
        purchased=-purchased,
        actor=actor,
        note=note,
    )
    logger.info(
        "credits.charge tenant=%s run=%s amount=%s monthly=%s purchased=%s",
        account.pk,
        run.pk,
        amount,
        monthly,
        purchased,
    )
    metrics.incr("relay_workflow_credits_charged_total", amount)
    return Movement(monthly=monthly, purchased=purchased)


def credits_refund(
    *, account: CreditAccount, run: WorkflowRun, amount: int, actor: User | None = None, note: str = ""
) -> Movement:
    """Give back up to what `run` has consumed, to the sources it was taken from (purchased first:
    they do not expire). Returns what was actually refunded."""
    if amount < 0:
        raise ValueError("a refund is a positive amount")
    run.refresh_from_db(fields=["credits_monthly", "credits_purchased"])
    purchased = min(amount, run.credits_purchased)
    monthly = min(amount - purchased, run.credits_monthly)
    _apply(
        account=account,
        run=run,
        reason=CreditReason.REFUND,
        monthly=monthly,
        purchased=purchased,
        actor=actor,
        note=note,
    )
    if monthly or purchased:
        logger.info("credits.refund tenant=%s run=%s monthly=%s purchased=%s", account.pk, run.pk, monthly, purchased)
    return Movement(monthly=monthly, purchased=purchased)


@transaction.atomic
def credits_grant(
    *,
    tenant: Tenant,
    amount: int,
    source: str,
    reason: str = CreditReason.GRANT,
    actor: User | None = None,
    note: str = "",
) -> CreditAccount:
    """Add credits (a monthly allowance, a purchase, a goodwill grant)."""
    if amount <= 0:
        raise ApplicationError("The amount must be positive.", fields={"amount": ["Must be greater than 0."]})
    if reason not in (CreditReason.GRANT, CreditReason.PURCHASE):
        raise ApplicationError("Only grants and purchases add credits.", fields={"reason": ["Invalid reason."]})
    account = credit_account_lock(tenant=tenant)
    monthly = amount if source == CreditSource.MONTHLY else 0
    _apply(
        account=account, run=None, reason=reason, monthly=monthly, purchased=amount - monthly, actor=actor, note=note
    )
    logger.info(
        "credits.grant tenant=%s amount=%s source=%s reason=%s actor=%s",
        tenant.pk,
        amount,
        source,
        reason,
        actor.pk if actor else None,
    )
    return account
