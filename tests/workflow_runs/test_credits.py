"""The credits ledger: reserve (monthly first, all or nothing), capture or release per file outcome,
balances always equal to the ledger, never negative, rows immutable, drift detected."""

import pytest
from django.db import IntegrityError, InternalError, transaction

from core.exceptions import PaymentRequired
from workflow_runs.models import CreditAccount, CreditLedgerEntry, FileStatus, RunFile, WorkflowRun
from workflow_runs.services.credits import (
    credit_account_lock,
    credits_monthly_reset,
    credits_reserve,
    credits_settle_run_files,
)
from workflow_runs.services.reconcile import credits_reconcile
from workflow_runs.services.runs import workflow_run_start_stored
from workflow_runs.tasks import reconcile_credits

from ..helpers import client_for
from .factories import assert_reconciled, balance, captured, entries, fund, make_template, reserved, upload

pytestmark = pytest.mark.django_db


def start(tenant, files, price=2):
    """A started run of `files` files (rows only: the test transaction publishes nothing)."""
    template = make_template(tenant=tenant, credits_per_run=price)
    return workflow_run_start_stored(
        tenant=tenant, actor=None, template=template, stored=[(f"f{i}.txt", f"x/f{i}.txt", 1) for i in range(files)]
    )


def end_files(run, outcomes):
    """Set each file's outcome: a status, or (status, error code)."""
    for index, outcome in enumerate(outcomes):
        status, code = outcome if isinstance(outcome, tuple) else (outcome, "")
        RunFile.objects.filter(run=run, index=index).update(status=status, error_code=code)


def settle(run, **kwargs):
    with transaction.atomic():
        return credits_settle_run_files(run=run, **kwargs)


def test_a_start_reserves_every_file_monthly_credits_first(tenant):
    fund(tenant, monthly=5, purchased=10)

    run = start(tenant, files=3, price=3)

    assert balance(tenant) == (0, 6) and reserved(tenant) == 9 and captured(tenant) == 0
    assert (run.reserved_monthly, run.reserved_purchased) == (5, 4)
    assert sorted(CreditLedgerEntry.objects.filter(reason="reserve").values_list("source", "amount", "files")) == [
        ("monthly", 5, 3),
        ("purchased", 4, 3),
    ]
    assert RunFile.objects.filter(run=run, reserved=True).count() == 3
    assert_reconciled()


def test_a_reservation_larger_than_the_balance_is_refused_whole(tenant):
    fund(tenant, monthly=5, purchased=1)

    with pytest.raises(PaymentRequired) as refused:
        start(tenant, files=4, price=2)

    assert refused.value.extra == {"creditsRequired": 8, "creditsAvailable": 6}
    assert balance(tenant) == (5, 1) and reserved(tenant) == 0
    assert not WorkflowRun.objects.exists() and entries(tenant, "reserve") == []


def test_settling_captures_the_customers_outcomes_and_releases_the_platforms(tenant):
    fund(tenant, monthly=100)
    run = start(tenant, files=6, price=2)
    end_files(
        run,
        [
            FileStatus.COMPLETED,
            (FileStatus.FAILED, "upstream_error"),  # their webhook's 5xx: theirs
            (FileStatus.ERROR, "invalid_file"),  # their file: theirs
            (FileStatus.ERROR, "unknown_processor"),  # ours
            (FileStatus.FAILED, "unhandled_exception"),  # ours
            (FileStatus.PENDING, "worker_lost"),  # ours, and Continue may retry it free: held
        ],
    )

    result = settle(run)

    assert (result.captured.total, result.released.total, result.held_files) == (6, 4, 1)
    assert balance(tenant) == (92, 0)  # 100 - 12 reserved + 4 released
    assert (reserved(tenant), captured(tenant)) == (2, 6)
    assert entries(tenant, "capture") == [6] and entries(tenant, "release") == [4]
    run.refresh_from_db()
    assert (run.credits_consumed, run.credits_reserved) == (6, 2)
    assert list(RunFile.objects.filter(run=run, reserved=True).values_list("index", flat=True)) == [5]
    assert_reconciled()


def test_settling_twice_moves_nothing_the_second_time(tenant):
    fund(tenant, monthly=100)
    run = start(tenant, files=2)
    end_files(run, [FileStatus.COMPLETED, (FileStatus.ERROR, "file_missing")])
    settle(run)
    ledger_rows = CreditLedgerEntry.objects.count()

    again = settle(run)

    assert (again.captured.total, again.released.total) == (0, 0)
    assert CreditLedgerEntry.objects.count() == ledger_rows
    assert_reconciled()


def test_a_final_settlement_releases_what_never_ran(tenant):
    """What a cancel finaliser does: files cancelled or never reached are released, completed ones kept."""
    fund(tenant, monthly=100)
    run = start(tenant, files=4, price=5)
    end_files(run, [FileStatus.COMPLETED, FileStatus.PENDING, FileStatus.RUNNING, (FileStatus.PENDING, "cancelled")])

    result = settle(run, final=True)

    assert (result.captured_files, result.released_files, result.held_files) == (1, 3, 0)
    assert (balance(tenant), reserved(tenant), captured(tenant)) == ((95, 0), 0, 5)
    assert_reconciled()


def test_release_gives_purchased_credits_back_first_and_capture_takes_monthly_first(tenant):
    fund(tenant, monthly=3, purchased=10)
    run = start(tenant, files=3, price=2)  # reserves 3 monthly + 3 purchased
    end_files(run, [FileStatus.COMPLETED, (FileStatus.ERROR, "file_missing"), (FileStatus.ERROR, "file_missing")])

    result = settle(run)

    assert (result.captured.monthly, result.captured.purchased) == (2, 0)
    assert (result.released.monthly, result.released.purchased) == (1, 3)
    assert balance(tenant) == (1, 10)
    assert_reconciled()


def test_the_database_refuses_a_negative_balance_or_buckets_that_do_not_add_up(tenant):
    fund(tenant, monthly=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(pk=tenant.pk).update(monthly_balance=-1, granted_balance=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(pk=tenant.pk).update(reserved_balance=5)


def test_ledger_rows_cannot_be_changed_or_deleted_and_an_account_with_entries_cannot_go(tenant):
    fund(tenant, monthly=7)
    entry = CreditLedgerEntry.objects.get(tenant=tenant)

    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        CreditLedgerEntry.objects.filter(pk=entry.pk).update(amount=700)
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        CreditLedgerEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises((IntegrityError, InternalError), match="ledger entries"), transaction.atomic():
        CreditAccount.objects.filter(pk=tenant.pk).delete()

    assert CreditLedgerEntry.objects.get(pk=entry.pk).amount == 7 and balance(tenant) == (7, 0)


def test_the_admin_cannot_add_change_or_delete_ledger_rows_or_delete_accounts(rf, platform_admin):
    from django.contrib import admin

    request = rf.get("/admin/")
    request.user = platform_admin
    ledger_admin = admin.site._registry[CreditLedgerEntry]
    account_admin = admin.site._registry[CreditAccount]

    assert not ledger_admin.has_add_permission(request)
    assert not ledger_admin.has_change_permission(request)
    assert not ledger_admin.has_delete_permission(request)
    assert not account_admin.has_delete_permission(request)


def test_the_reconciliation_detects_a_tampered_balance(tenant, other_tenant, caplog):
    fund(tenant, monthly=10)
    fund(other_tenant, purchased=4)
    run = start(other_tenant, files=1, price=2)
    assert credits_reconcile() == []

    # A write that skips the ledger but keeps the CHECK happy: 5 more credits out of nowhere.
    CreditAccount.objects.filter(pk=tenant.pk).update(monthly_balance=15, granted_balance=15)
    WorkflowRun.objects.filter(pk=run.pk).update(credits_purchased=2)
    with caplog.at_level("ERROR"):
        mismatches = reconcile_credits()

    assert mismatches == 2
    found = {(m.kind, m.id) for m in credits_reconcile()}
    assert found == {("account", str(tenant.pk)), ("run", str(run.pk))}
    assert "RECONCILE_MISMATCH" in caplog.text and str(tenant.pk) in caplog.text


def test_the_monthly_reset_expires_unspent_monthly_credits_and_grants_the_allowance(tenant):
    fund(tenant, monthly=10, purchased=3)
    start(tenant, files=2, price=2)  # 4 monthly reserved by a running run: not expired

    credits_monthly_reset(tenant=tenant, allowance=50)

    assert balance(tenant) == (50, 3) and reserved(tenant) == 4
    assert entries(tenant, "expire") == [6]
    assert entries(tenant, "grant")[-1] == 50
    assert_reconciled()


def test_reserve_needs_the_account_lock_of_the_callers_transaction(tenant):
    fund(tenant, monthly=10)
    run = start(tenant, files=1)
    with transaction.atomic():
        account = credit_account_lock(tenant=tenant)
        with pytest.raises(ValueError):
            credits_reserve(account=account, run=run, files=-1, round=2)


def test_the_balance_endpoint_shows_the_tenants_balance_and_ledger(member_client, tenant, other_tenant):
    fund(tenant, monthly=5, purchased=3)
    fund(other_tenant, monthly=99)

    body = member_client.get("/api/credits").json()

    assert (body["monthly"], body["purchased"], body["total"]) == (5, 3, 8)
    assert sorted((e["source"], e["amount"], e["reason"]) for e in body["ledger"]) == [
        ("monthly", 5, "grant"),
        ("purchased", 3, "purchase"),
    ]


def test_platform_admins_grant_credits_and_others_may_not(platform_admin, admin_client, tenant):
    data = {"tenant": str(tenant.pk), "amount": 40, "source": "purchased", "reason": "purchase"}

    assert admin_client.post("/api/credits/grant", data, format="json").status_code == 403
    response = client_for(platform_admin).post("/api/credits/grant", data, format="json")

    assert response.status_code == 201
    assert (response.json()["purchased"], response.json()["total"]) == (40, 40)
    assert balance(tenant) == (0, 40)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount": 0, "source": "monthly"}, "amount"),
        ({"amount": 5, "source": "gold"}, "source"),
        ({"amount": 5, "source": "monthly", "reason": "charge"}, "reason"),
    ],
)
def test_a_bad_grant_is_400(platform_admin, tenant, data, field):
    response = client_for(platform_admin).post("/api/credits/grant", {"tenant": str(tenant.pk), **data}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_the_scheduled_monthly_reset_runs_once_per_account_per_month(tenant, other_tenant):
    from datetime import UTC, datetime

    from workflow_runs.services.credits import credits_monthly_resets_due

    fund(tenant, monthly=7)
    fund(other_tenant, monthly=7)
    CreditAccount.objects.filter(pk=tenant.pk).update(monthly_allowance=30)

    first = credits_monthly_resets_due(now=datetime(2026, 3, 5, tzinfo=UTC))
    again = credits_monthly_resets_due(now=datetime(2026, 3, 28, tzinfo=UTC))
    next_month = credits_monthly_resets_due(now=datetime(2026, 4, 1, 0, 5, tzinfo=UTC))

    assert (first, again, next_month) == (1, 0, 1)
    assert balance(tenant) == (30, 0) and balance(other_tenant) == (7, 0)
    assert entries(tenant, "expire") == [7, 30]
    assert_reconciled()


def test_amounts_past_32_bits_are_a_402_or_a_reservation_never_a_500(member_client, tenant):
    template = make_template(tenant=tenant, credits_per_run=1_000_000_000)
    files = [upload(f"{i}.txt", "x") for i in range(3)]
    short = member_client.post("/api/workflow-runs", {"template": str(template.pk), "files": files}, format="multipart")
    for _ in range(4):
        fund(tenant, purchased=1_000_000_000)
    files = [upload(f"{i}.txt", "x") for i in range(3)]
    paid = member_client.post("/api/workflow-runs", {"template": str(template.pk), "files": files}, format="multipart")

    assert short.status_code == 402 and short.json()["creditsRequired"] == 3_000_000_000
    assert paid.status_code == 201, paid.content
    assert paid.json()["creditsReserved"]["total"] == 3_000_000_000 and reserved(tenant) == 3_000_000_000
    assert_reconciled()


@pytest.mark.django_db(transaction=True)
def test_a_reconciliation_mismatch_is_counted_in_the_metrics(tenant):
    from orchestration import metrics

    from ..helpers import wait_until

    before = metrics.value("relay_credit_reconcile_mismatches_total")
    fund(tenant, monthly=3)
    CreditAccount.objects.filter(pk=tenant.pk).update(monthly_balance=4, granted_balance=4)

    assert reconcile_credits() == 1

    wait_until(
        lambda: metrics.value("relay_credit_reconcile_mismatches_total") == before + 1,
        message="the mismatch counter (added after commit)",
    )
