"""Money moves here and only here: every change of a balance is a ledger row in the same transaction,
taken under `select_for_update` of the tenant's `CreditAccount` row.

Reserve, then capture (authorise-and-capture): a run's start and Continue *reserve* files x the run's
unit price (all or nothing, 402 when short); when a round ends each reserved file is *captured* or
*released* by its outcome (`workflow_runs.billing`). Settling happens once per round for all its files
(one account update, a few ledger rows), never per file end: the account row stays off the job path.

Lock order: the run row, then the credit account, then the run's files, then the engine's rows.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.exceptions import ApplicationError, PaymentRequired
from orchestration import metrics
from orchestration.db import bound_cursor
from tenants.models import Tenant, User

from .. import billing
from ..models import CreditAccount, CreditLedgerEntry, CreditReason, CreditSource, WorkflowRun

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Movement:
    monthly: int = 0  # credits of the monthly source in this movement
    purchased: int = 0

    @property
    def total(self) -> int:
        return self.monthly + self.purchased


@dataclass(frozen=True)
class SettleResult:
    captured: Movement
    released: Movement
    captured_files: int
    released_files: int
    held_files: int  # reserved files left for a later round (pending, Continue may still retry them)


def credit_account_lock(*, tenant: Tenant | UUID) -> CreditAccount:
    """The tenant's account row, created if missing, locked until the end of the transaction."""
    assert connection.in_atomic_block, "lock the account inside the caller's transaction"
    tenant_id = tenant.pk if isinstance(tenant, Tenant) else tenant
    with connection.cursor() as cursor:
        # A plain get_or_create would race two first-time callers into an IntegrityError.
        cursor.execute(
            "INSERT INTO workflow_runs_creditaccount (tenant_id, plan, monthly_balance, purchased_balance, "
            "reserved_balance, captured_balance, granted_balance, monthly_allowance, updated_at) "
            "VALUES (%s, '', 0, 0, 0, 0, 0, 0, now()) ON CONFLICT (tenant_id) DO NOTHING",
            [tenant_id],
        )
    return CreditAccount.objects.select_for_update().get(pk=tenant_id)


def _entries(
    *,
    account: CreditAccount,
    run: WorkflowRun | None,
    reason: str,
    movement: Movement,
    actor: User | None = None,
    note: str = "",
    round: int | None = None,
    files: int | None = None,
) -> None:
    CreditLedgerEntry.objects.bulk_create(
        [
            CreditLedgerEntry(
                tenant_id=account.pk,
                run=run,
                amount=amount,
                source=source,
                reason=reason,
                round=round,
                files=files,
                note=note[:200],
                created_by=actor,
            )
            for source, amount in (
                (CreditSource.MONTHLY, movement.monthly),
                (CreditSource.PURCHASED, movement.purchased),
            )
            if amount > 0
        ]
    )


def _move_account(account: CreditAccount, **deltas: int) -> None:
    """Add `deltas` to the account's balance columns (one UPDATE) and to the in-memory row."""
    CreditAccount.objects.filter(pk=account.pk).update(**{field: F(field) + delta for field, delta in deltas.items()})
    for field, delta in deltas.items():
        setattr(account, field, getattr(account, field) + delta)


def _move_run(run: WorkflowRun, **deltas: int) -> None:
    WorkflowRun.objects.filter(pk=run.pk).update(**{field: F(field) + delta for field, delta in deltas.items()})
    for field, delta in deltas.items():
        setattr(run, field, getattr(run, field) + delta)


def credits_reserve(
    *,
    account: CreditAccount,
    run: WorkflowRun,
    files: int,
    round: int,
    actor: User | None = None,
    note: str = "",
) -> Movement:
    """Hold `files x run.unit_price` for `run`, monthly credits first; all or nothing (402 when short).
    `account` must be locked by `credit_account_lock` in the current transaction."""
    if files < 0:
        raise ValueError("reserve a non-negative number of files")
    amount = files * run.unit_price
    if amount == 0:
        return Movement()
    if account.total < amount:
        raise PaymentRequired(
            f"This needs {amount} credits; the tenant has {account.total}.",
            extra={"creditsRequired": amount, "creditsAvailable": account.total},
        )
    movement = Movement(
        monthly=min(amount, account.monthly_balance), purchased=amount - min(amount, account.monthly_balance)
    )
    _entries(
        account=account,
        run=run,
        reason=CreditReason.RESERVE,
        movement=movement,
        actor=actor,
        note=note,
        round=round,
        files=files,
    )
    _move_account(
        account,
        monthly_balance=-movement.monthly,
        purchased_balance=-movement.purchased,
        reserved_balance=amount,
    )
    _move_run(run, reserved_monthly=movement.monthly, reserved_purchased=movement.purchased)
    logger.info(
        "credits.reserve tenant=%s run=%s round=%s files=%s amount=%s monthly=%s purchased=%s",
        account.pk,
        run.pk,
        round,
        files,
        amount,
        movement.monthly,
        movement.purchased,
    )
    metrics.incr("relay_workflow_credits_reserved_total", amount)
    return movement


def _settle_files(
    *, run: WorkflowRun, file_ids: Collection[int] | None, final: bool
) -> dict[billing.Settlement, dict[str, int]]:
    """Un-reserve the run's reserved files that settle now (`billing.settlement_for` of each status and
    error code) and count them per settlement and outcome (`code or status`). In the database, grouped
    by (status, code): a 100,000-file round costs two statements and no row in this process."""
    ids = None if file_ids is None else list(file_ids)
    with bound_cursor() as cursor:
        cursor.execute(
            """
            SELECT status, error_code FROM workflow_runs_runfile
            WHERE run_id = %s AND reserved AND (%s::bigint[] IS NULL OR id = ANY(%s::bigint[]))
            GROUP BY status, error_code
            """,
            [run.pk, ids, ids],
        )
        pairs = {
            (status, code): billing.settlement_for(status=status, error_code=code, final=final)
            for status, code in cursor.fetchall()
        }
        for (_, code), settlement in pairs.items():
            if code and code not in billing.CUSTOMER_CODES | billing.PLATFORM_CODES:
                logger.warning("credits.unknown_error_code run=%s code=%s settled=%s", run.pk, code, settlement)
        settle = [pair for pair, settlement in pairs.items() if settlement is not billing.Settlement.HOLD]
        cursor.execute(
            """
            WITH settled AS (
                UPDATE workflow_runs_runfile SET reserved = false
                WHERE run_id = %s AND reserved AND (%s::bigint[] IS NULL OR id = ANY(%s::bigint[]))
                  AND (status, error_code) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
                RETURNING status, error_code
            )
            SELECT status, error_code, count(*) FROM settled GROUP BY status, error_code
            UNION ALL
            SELECT status, error_code, count(*) FROM workflow_runs_runfile
            WHERE run_id = %s AND reserved AND (%s::bigint[] IS NULL OR id = ANY(%s::bigint[]))
              AND (status, error_code) NOT IN (SELECT * FROM unnest(%s::text[], %s::text[]))
            GROUP BY status, error_code
            """,
            [run.pk, ids, ids, [status for status, _ in settle], [code for _, code in settle]] * 2,
        )
        counted = cursor.fetchall()
    decided: dict[billing.Settlement, dict[str, int]] = {settlement: {} for settlement in billing.Settlement}
    for status, code, n in counted:
        settlement = billing.settlement_for(status=status, error_code=code, final=final)
        by_code = decided[settlement]
        by_code[code or status] = by_code.get(code or status, 0) + n
    return decided


def credits_settle_run_files(
    *,
    run: WorkflowRun,
    file_ids: Collection[int] | None = None,
    final: bool = False,
    round: int | None = None,
    note: str = "",
) -> SettleResult:
    """Capture or release the reservation of the run's reserved files (all of them, or those in
    `file_ids`) by each file's recorded outcome, per `billing.settlement_for`. `final=True` when the run
    will not run these files again (cancelled, retry limit reached): their `pending`/`running` files are
    released as never run instead of held for Continue.

    Call it inside a transaction; it locks the run, then the account, then the files (the lock order of
    this module). A cancel finaliser calls it with `final=True` after marking what it cancelled.
    Idempotent: a settled file is no longer `reserved`, so a second call settles nothing.
    """
    assert connection.in_atomic_block, "settle inside the caller's transaction"
    run = WorkflowRun.objects.select_for_update(of=("self",)).get(pk=run.pk)
    account = credit_account_lock(tenant=run.tenant_id)
    decided = _settle_files(run=run, file_ids=file_ids, final=final)
    outcomes = {settlement: Counter(by_code) for settlement, by_code in decided.items()}
    files = {settlement: sum(by_code.values()) for settlement, by_code in decided.items()}
    capture_amount = files[billing.Settlement.CAPTURE] * run.unit_price
    release_amount = files[billing.Settlement.RELEASE] * run.unit_price
    if capture_amount + release_amount > run.credits_reserved:
        raise RuntimeError(f"run {run.pk} settles {capture_amount + release_amount} but holds {run.credits_reserved}")
    # Capture the expiring monthly credits first; release gives back what is left, purchased first.
    captured = Movement(
        monthly=min(capture_amount, run.reserved_monthly),
        purchased=capture_amount - min(capture_amount, run.reserved_monthly),
    )
    left_purchased = run.reserved_purchased - captured.purchased
    released = Movement(
        monthly=release_amount - min(release_amount, left_purchased), purchased=min(release_amount, left_purchased)
    )
    if round is None and run.stage is not None:
        round = run.stage.round

    def detail(settlement: billing.Settlement) -> str:
        """Why, for the statement: e.g. `completed x3, upstream_error x1`."""
        return note or ", ".join(f"{key} x{n}" for key, n in sorted(outcomes[settlement].items()))

    _entries(
        account=account,
        run=run,
        reason=CreditReason.CAPTURE,
        movement=captured,
        round=round,
        files=files[billing.Settlement.CAPTURE],
        note=detail(billing.Settlement.CAPTURE),
    )
    _entries(
        account=account,
        run=run,
        reason=CreditReason.RELEASE,
        movement=released,
        round=round,
        files=files[billing.Settlement.RELEASE],
        note=detail(billing.Settlement.RELEASE),
    )
    if capture_amount or release_amount:
        _move_account(
            account,
            reserved_balance=-(capture_amount + release_amount),
            captured_balance=capture_amount,
            monthly_balance=released.monthly,
            purchased_balance=released.purchased,
        )
        _move_run(
            run,
            reserved_monthly=-(captured.monthly + released.monthly),
            reserved_purchased=-(captured.purchased + released.purchased),
            credits_monthly=captured.monthly,
            credits_purchased=captured.purchased,
        )
        metrics.incr("relay_workflow_credits_captured_total", capture_amount)
        metrics.incr("relay_workflow_credits_released_total", release_amount)
    logger.info(
        "credits.settle tenant=%s run=%s round=%s final=%s captured=%s released=%s held_files=%s outcomes=%s",
        run.tenant_id,
        run.pk,
        round,
        final,
        capture_amount,
        release_amount,
        files[billing.Settlement.HOLD],
        {str(key): dict(counter) for key, counter in outcomes.items() if counter},
    )
    return SettleResult(
        captured=captured,
        released=released,
        captured_files=files[billing.Settlement.CAPTURE],
        released_files=files[billing.Settlement.RELEASE],
        held_files=files[billing.Settlement.HOLD],
    )


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
    movement = Movement(monthly=monthly, purchased=amount - monthly)
    _entries(account=account, run=None, reason=reason, movement=movement, actor=actor, note=note)
    _move_account(
        account, monthly_balance=movement.monthly, purchased_balance=movement.purchased, granted_balance=amount
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


@transaction.atomic
def credits_monthly_reset(*, tenant: Tenant | UUID, allowance: int, note: str = "monthly reset") -> CreditAccount:
    """The monthly reset: unspent monthly credits expire (a ledger row), then the allowance is granted
    (a ledger row). Reserved monthly credits are not touched: they belong to runs still running."""
    account = credit_account_lock(tenant=tenant)
    expired = account.monthly_balance
    if expired:
        _entries(account=account, run=None, reason=CreditReason.EXPIRE, movement=Movement(monthly=expired), note=note)
        _move_account(account, monthly_balance=-expired, granted_balance=-expired)
    if allowance > 0:
        _entries(account=account, run=None, reason=CreditReason.GRANT, movement=Movement(monthly=allowance), note=note)
        _move_account(account, monthly_balance=allowance, granted_balance=allowance)
    logger.info("credits.monthly_reset tenant=%s expired=%s granted=%s", account.pk, expired, allowance)
    return account


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def credits_monthly_resets_due(*, now: datetime | None = None) -> int:
    """Reset every account with a monthly allowance not yet reset this (UTC) month. Each account in its
    own transaction, re-checked under its lock, so two schedulers never reset one account twice."""
    now = now or timezone.now()
    start = month_start(now)
    due = CreditAccount.objects.filter(monthly_allowance__gt=0).filter(
        Q(monthly_reset_at__isnull=True) | Q(monthly_reset_at__lt=start)
    )
    done = 0
    for tenant_id in due.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            account = credit_account_lock(tenant=tenant_id)
            if account.monthly_reset_at is not None and account.monthly_reset_at >= start:
                continue
            credits_monthly_reset(
                tenant=tenant_id, allowance=account.monthly_allowance, note=f"monthly reset {start:%Y-%m}"
            )
            CreditAccount.objects.filter(pk=tenant_id).update(monthly_reset_at=now)
            done += 1
    return done
