"""Continue and cancel from the admin: the cost shown first, then the service's own rules (402, 409)."""

import pytest

from workflow_runs.models import CreditLedgerEntry, FileStatus, RunStatus, WorkflowRun

from ..admin_actions import act, admin_browser, confirmation
from .factories import fund, make_template, run_in_state

pytestmark = pytest.mark.django_db

RUNS = "/admin/workflow_runs/workflowrun/"
TENANTS = "/admin/tenants/tenant/"


def failed_run(tenant, price=3):
    template = make_template(tenant=tenant, credits_per_run=price)
    files = [(FileStatus.COMPLETED, 0), (FileStatus.FAILED, 0), (FileStatus.FAILED, 0), (FileStatus.PENDING, 0)]
    return run_in_state(tenant=tenant, template=template, files=files)


def test_continue_shows_the_cost_then_reserves_it(tenant, platform_admin):
    fund(tenant, purchased=10)
    run = failed_run(tenant)
    client = admin_browser(platform_admin)

    page = confirmation(client, RUNS, "continue_runs", [run])
    assert "3 file(s), 2 failed at 3 credits: costs 6 credits (tenant balance 10)" in page

    shown = act(client, RUNS, "continue_runs", [run], relay_confirmed="yes")
    assert len(shown) == 1 and shown[0].endswith(": Continue started."), shown
    assert WorkflowRun.objects.get(pk=run.pk).status == RunStatus.RUNNING
    assert CreditLedgerEntry.objects.filter(run=run, reason="reserve").exists()


def test_continue_without_enough_credits_shows_the_402(tenant, platform_admin):
    run = failed_run(tenant)
    shown = act(admin_browser(platform_admin), RUNS, "continue_runs", [run], relay_confirmed="yes")
    assert "(402 insufficient_credits)" in shown[0]
    assert WorkflowRun.objects.get(pk=run.pk).status == RunStatus.COMPLETED_WITH_ERRORS


def test_cancelling_a_finished_run_shows_the_409(tenant, platform_admin):
    shown = act(admin_browser(platform_admin), RUNS, "cancel_runs", [failed_run(tenant)])
    assert "(409 run_not_running)" in shown[0]


def test_granting_credits_writes_a_ledger_entry(tenant, platform_admin):
    client = admin_browser(platform_admin)
    assert "Grant credits" in confirmation(client, TENANTS, "grant_credits", [tenant])

    shown = act(client, TENANTS, "grant_credits", [tenant], relay_confirmed="yes", amount="25", source="purchased")

    assert shown == [f"{tenant}: credits granted."]
    entry = CreditLedgerEntry.objects.get(tenant=tenant, reason="grant")
    assert (entry.amount, entry.created_by_id) == (25, platform_admin.pk)
