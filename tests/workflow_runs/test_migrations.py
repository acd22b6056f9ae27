"""Existing data survives the move to platform prices and reservations (migrations 0002-0004)."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from workflow_runs.models import CreditAccount, CreditLedgerEntry, ProcessorPrice, WorkflowRun
from workflow_runs.services.reconcile import credits_reconcile

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("workflow_runs", "0001_initial")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_templates_prices_runs_and_ledger_rows_are_carried_over(tenant):
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("workflow_runs")
    old = migrate(BEFORE)
    try:
        Template = old.get_model("workflow_runs", "Template")
        Run = old.get_model("workflow_runs", "WorkflowRun")
        Account = old.get_model("workflow_runs", "CreditAccount")
        Entry = old.get_model("workflow_runs", "CreditLedgerEntry")
        free = Template.objects.create(tenant_id=tenant.pk, name="Free", processor="json_validate", credits_per_run=0)
        paid = Template.objects.create(
            tenant_id=tenant.pk,
            name="Paid",
            processor="text_stats",
            credits_per_run=5,
            processor_config={"top_words": 2},
        )
        Template.objects.create(tenant_id=None, name="Cheap", processor="text_stats", credits_per_run=3)
        run = Run.objects.create(tenant_id=tenant.pk, template=paid, status="COMPLETED", credits_monthly=10)
        Run.objects.create(tenant_id=tenant.pk, template=free, status="COMPLETED")
        Account.objects.create(tenant_id=tenant.pk, monthly_balance=10, purchased_balance=0)
        Entry.objects.create(tenant_id=tenant.pk, amount=20, source="monthly", reason="grant")
        Entry.objects.create(tenant_id=tenant.pk, run=run, amount=-10, source="monthly", reason="charge")
    finally:
        migrate(latest)

    prices = dict(ProcessorPrice.objects.filter(plan="").values_list("processor", "credits_per_file"))
    assert prices == {"text_stats": 5, "json_validate": 1, "csv_validate": 1, "webhook": 1}
    migrated = WorkflowRun.objects.get(pk=run.pk)
    assert (migrated.unit_price, migrated.processor, migrated.processor_config) == (5, "text_stats", {"top_words": 2})
    assert set(WorkflowRun.objects.values_list("unit_price", flat=True)) == {5, 1}
    assert sorted(CreditLedgerEntry.objects.values_list("reason", "amount")) == [("charge", 10), ("grant", 20)]
    account = CreditAccount.objects.get(pk=tenant.pk)
    assert (account.monthly_balance, account.captured_balance, account.granted_balance) == (10, 10, 20)
    assert credits_reconcile() == []
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        CreditLedgerEntry.objects.update(amount=1)
