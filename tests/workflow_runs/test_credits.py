"""The credits ledger: monthly first, all or nothing, balances always equal the ledger, never negative."""

import pytest
from django.db import IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.exceptions import PaymentRequired
from workflow_runs.models import CreditAccount, CreditLedgerEntry, WorkflowRun
from workflow_runs.services.credits import credit_account_lock, credits_charge, credits_grant, credits_refund

from ..helpers import client_for, make_tenant
from .factories import balance, fund, make_template

pytestmark = pytest.mark.django_db


def charge(tenant, run, amount):
    with transaction.atomic():
        return credits_charge(account=credit_account_lock(tenant=tenant), run=run, amount=amount)


def refund(tenant, run, amount):
    with transaction.atomic():
        return credits_refund(account=credit_account_lock(tenant=tenant), run=run, amount=amount)


def ledger_sums(tenant):
    entries = CreditLedgerEntry.objects.filter(tenant=tenant)
    return (
        sum(e.amount for e in entries if e.source == "monthly"),
        sum(e.amount for e in entries if e.source == "purchased"),
    )


@pytest.fixture
def run(tenant):
    return WorkflowRun.objects.create(tenant=tenant, template=make_template(tenant=tenant))


def test_a_charge_spends_monthly_credits_first(tenant, run):
    fund(tenant, monthly=5, purchased=10)

    moved = charge(tenant, run, 7)

    assert (moved.monthly, moved.purchased) == (5, 2)
    assert balance(tenant) == (0, 8)
    run.refresh_from_db()
    assert (run.credits_monthly, run.credits_purchased) == (5, 2)


def test_a_charge_larger_than_the_balance_is_refused_whole(tenant, run):
    fund(tenant, monthly=5, purchased=1)

    with pytest.raises(PaymentRequired):
        charge(tenant, run, 7)

    assert balance(tenant) == (5, 1)
    assert not CreditLedgerEntry.objects.filter(reason="charge").exists()


def test_a_refund_goes_back_to_the_sources_the_run_paid_from_and_no_further(tenant, run):
    fund(tenant, monthly=5, purchased=10)
    charge(tenant, run, 7)

    moved = refund(tenant, run, 100)

    assert (moved.monthly, moved.purchased) == (5, 2)
    assert balance(tenant) == (5, 10)
    assert refund(tenant, run, 1).total == 0


def test_the_database_refuses_a_negative_balance_even_without_the_service(tenant):
    fund(tenant, monthly=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(pk=tenant.pk).update(monthly_balance=-1)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.sampled_from(["monthly", "purchased"]), st.integers(1, 50)),
        st.tuples(st.just("charge"), st.integers(0, 2), st.integers(0, 60)),
        st.tuples(st.just("refund"), st.integers(0, 2), st.integers(0, 60)),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_any_sequence_of_movements_keeps_balances_equal_to_the_ledger_and_never_negative(db, ops):
    tenant = make_tenant()
    template = make_template(tenant=tenant)
    runs = [WorkflowRun.objects.create(tenant=tenant, template=template) for _ in range(3)]
    monthly = purchased = 0  # a model of what the balances must be
    for op, arg, amount in ops:
        if op == "grant":
            credits_grant(tenant=tenant, amount=amount, source=arg)
            monthly, purchased = (monthly + amount, purchased) if arg == "monthly" else (monthly, purchased + amount)
        elif op == "charge":
            if amount > monthly + purchased:
                with pytest.raises(PaymentRequired):
                    charge(tenant, runs[arg], amount)
            else:
                charge(tenant, runs[arg], amount)
                from_monthly = min(amount, monthly)
                monthly, purchased = monthly - from_monthly, purchased - (amount - from_monthly)
        else:
            paid = runs[arg]
            paid.refresh_from_db()
            consumed = paid.credits_monthly + paid.credits_purchased
            moved = refund(tenant, paid, amount)
            assert moved.total == min(amount, consumed)
            monthly, purchased = monthly + moved.monthly, purchased + moved.purchased
        assert balance(tenant) == ledger_sums(tenant) == (monthly, purchased)
        assert monthly >= 0 and purchased >= 0
        for paid in runs:
            paid.refresh_from_db()
            entries = CreditLedgerEntry.objects.filter(run=paid)
            assert paid.credits_monthly == -sum(e.amount for e in entries if e.source == "monthly") >= 0
            assert paid.credits_purchased == -sum(e.amount for e in entries if e.source == "purchased") >= 0


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
