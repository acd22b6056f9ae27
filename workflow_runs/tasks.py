"""Thin Celery entry points of workflow runs' control-plane work.

Names start with `control.` so a deployment can route them to a control queue (`task_routes` on
`control.*`) that never waits behind data jobs."""

from celery import shared_task

from .services.credits import credits_monthly_resets_due
from .services.reconcile import credits_reconcile

RECONCILE_TASK = "control.workflow_runs.reconcile_credits"


@shared_task(name=RECONCILE_TASK, ignore_result=True)
def reconcile_credits() -> int:
    """Check balance == sum of ledger for every account and run; returns how many mismatched."""
    return len(credits_reconcile())


@shared_task(name="control.workflow_runs.reset_monthly_credits", ignore_result=True)
def reset_monthly_credits() -> int:
    """Expire unspent monthly credits and grant the allowance, once per account per month."""
    return credits_monthly_resets_due()
