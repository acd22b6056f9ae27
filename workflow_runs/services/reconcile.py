"""Reconciliation: every account's balance columns, and every run's credit columns, must equal what its
ledger rows add up to (`LEDGER_MOVES` says which bucket each reason moves). A mismatch means a write
skipped the ledger services (or someone edited a balance by hand): it is logged loudly and counted."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import connection

from orchestration import metrics

from ..models import LEDGER_MOVES

logger = logging.getLogger(__name__)

BUCKETS = ("monthly", "purchased", "reserved", "captured", "granted")


def _delta(bucket: str, *, source: str | None = None) -> str:
    """The SQL sum of what the ledger moved into `bucket` (only rows of `source`, when given)."""
    terms = []
    for reason, (taken_from, put_into) in LEDGER_MOVES.items():
        sign = 0
        if bucket == "available":
            sign = (put_into == "available") - (taken_from == "available")
        elif bucket == "granted":
            sign = (taken_from is None) - (put_into is None)
        else:
            sign = (put_into == bucket) - (taken_from == bucket)
        if sign:
            terms.append(f"WHEN '{reason}' THEN {sign} * amount")
    case = f"CASE reason {' '.join(terms)} ELSE 0 END"
    if source:
        case = f"CASE WHEN source = '{source}' THEN {case} ELSE 0 END"
    return f"COALESCE(SUM({case}), 0)"


_ACCOUNTS_SQL = f"""
SELECT COALESCE(a.tenant_id, l.tenant_id),
       a.monthly_balance, a.purchased_balance, a.reserved_balance, a.captured_balance, a.granted_balance,
       COALESCE(l.monthly, 0), COALESCE(l.purchased, 0), COALESCE(l.reserved, 0), COALESCE(l.captured, 0),
       COALESCE(l.granted, 0)
FROM workflow_runs_creditaccount AS a
FULL OUTER JOIN (
    SELECT tenant_id,
           {_delta("available", source="monthly")} AS monthly,
           {_delta("available", source="purchased")} AS purchased,
           {_delta("reserved")} AS reserved,
           {_delta("captured")} AS captured,
           {_delta("granted")} AS granted
    FROM workflow_runs_creditledgerentry GROUP BY tenant_id
) AS l ON l.tenant_id = a.tenant_id
"""

_RUNS_SQL = f"""
SELECT r.id, r.tenant_id, r.reserved_monthly, r.reserved_purchased, r.credits_monthly, r.credits_purchased,
       COALESCE(l.reserved_monthly, 0), COALESCE(l.reserved_purchased, 0),
       COALESCE(l.captured_monthly, 0), COALESCE(l.captured_purchased, 0)
FROM workflow_runs_workflowrun AS r
LEFT JOIN (
    SELECT run_id,
           {_delta("reserved", source="monthly")} AS reserved_monthly,
           {_delta("reserved", source="purchased")} AS reserved_purchased,
           {_delta("captured", source="monthly")} AS captured_monthly,
           {_delta("captured", source="purchased")} AS captured_purchased
    FROM workflow_runs_creditledgerentry WHERE run_id IS NOT NULL GROUP BY run_id
) AS l ON l.run_id = r.id
WHERE (r.reserved_monthly, r.reserved_purchased, r.credits_monthly, r.credits_purchased)
      IS DISTINCT FROM (COALESCE(l.reserved_monthly, 0), COALESCE(l.reserved_purchased, 0),
                        COALESCE(l.captured_monthly, 0), COALESCE(l.captured_purchased, 0))
"""


@dataclass(frozen=True)
class Mismatch:
    kind: str  # "account" or "run"
    id: str
    tenant: str
    recorded: dict[str, Any]  # what the balance columns say (None: no account row)
    ledger: dict[str, int]  # what the ledger adds up to


def credits_reconcile() -> list[Mismatch]:
    """Compare every account and every run with its ledger; log and count each mismatch."""
    mismatches: list[Mismatch] = []
    with connection.cursor() as cursor:
        cursor.execute(_ACCOUNTS_SQL)
        for tenant_id, *values in cursor.fetchall():
            recorded, ledger = dict(zip(BUCKETS, values[:5], strict=True)), dict(zip(BUCKETS, values[5:], strict=True))
            if recorded != ledger:
                mismatches.append(Mismatch("account", str(tenant_id), str(tenant_id), recorded, ledger))
        cursor.execute(_RUNS_SQL)
        run_fields = ("reserved_monthly", "reserved_purchased", "captured_monthly", "captured_purchased")
        for run_id, tenant_id, *values in cursor.fetchall():
            mismatches.append(
                Mismatch(
                    "run",
                    str(run_id),
                    str(tenant_id),
                    dict(zip(run_fields, values[:4], strict=True)),
                    dict(zip(run_fields, values[4:], strict=True)),
                )
            )
    for mismatch in mismatches:
        logger.error(
            "credits.RECONCILE_MISMATCH kind=%s id=%s tenant=%s recorded=%s ledger=%s",
            mismatch.kind,
            mismatch.id,
            mismatch.tenant,
            mismatch.recorded,
            mismatch.ledger,
        )
    metrics.incr("relay_credit_reconcile_runs_total")
    if mismatches:
        metrics.incr("relay_credit_reconcile_mismatches_total", len(mismatches))
    else:
        logger.info("credits.reconcile_ok")
    return mismatches
