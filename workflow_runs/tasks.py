"""Thin Celery entry points of workflow runs' control-plane work.

Names start with `control.` so a deployment can route them to a control queue (`task_routes` on
`control.*`) that never waits behind data jobs."""

from celery import shared_task

from .services.reconcile import credits_reconcile

RECONCILE_TASK = "control.workflow_runs.reconcile_credits"


@shared_task(name=RECONCILE_TASK, ignore_result=True)
def reconcile_credits() -> int:
    """Check balance == sum of ledger for every account and run; returns how many mismatched."""
    return len(credits_reconcile())
