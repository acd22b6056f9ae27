"""Statements: `GET /api/credits/ledger` (paginated, by run and period) and its CSV export."""

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from workflow_runs.models import CreditLedgerEntry, FileStatus, RunFile
from workflow_runs.services.credits import credits_settle_run_files
from workflow_runs.services.runs import workflow_run_start_stored

from ..helpers import client_for
from .factories import fund, make_template

pytestmark = pytest.mark.django_db


def settled_run(tenant, outcomes):
    template = make_template(tenant=tenant, credits_per_run=2)
    run = workflow_run_start_stored(
        tenant=tenant, actor=None, template=template, stored=[(f"{i}.txt", f"x/{i}", 1) for i in range(len(outcomes))]
    )
    for index, (status, code) in enumerate(outcomes):
        RunFile.objects.filter(run=run, index=index).update(status=status, error_code=code)
    with transaction.atomic():
        credits_settle_run_files(run=run, round=1)
    return run


def backdate_all(days):
    """Move every ledger row into the past (only a test may: the trigger is off for this statement)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending before ALTER TABLE
        cursor.execute("ALTER TABLE workflow_runs_creditledgerentry DISABLE TRIGGER workflow_runs_ledger_immutable")
        cursor.execute(
            "UPDATE workflow_runs_creditledgerentry SET created_at = created_at - make_interval(days => %s)", [days]
        )
        cursor.execute("ALTER TABLE workflow_runs_creditledgerentry ENABLE TRIGGER workflow_runs_ledger_immutable")


def test_the_ledger_lists_every_movement_and_filters_by_run(member_client, tenant, other_tenant):
    fund(tenant, monthly=50)
    fund(other_tenant, monthly=50)
    first = settled_run(tenant, [(FileStatus.COMPLETED, ""), (FileStatus.ERROR, "file_missing")])
    settled_run(tenant, [(FileStatus.COMPLETED, "")])
    settled_run(other_tenant, [(FileStatus.COMPLETED, "")])

    everything = member_client.get("/api/credits/ledger").json()
    of_first = member_client.get("/api/credits/ledger", {"run": str(first.pk)}).json()

    assert everything["count"] == 6  # grant, 2 x (reserve, capture), release of the first run
    assert [(e["reason"], e["amount"], e["files"]) for e in of_first["results"]] == [
        ("release", 2, 1),
        ("capture", 2, 1),
        ("reserve", 4, 2),
    ]
    assert [e["note"] for e in of_first["results"]] == ["file_missing x1", "completed x1", "run start"]
    assert {e["run"] for e in of_first["results"]} == {str(first.pk)}
    assert all(e["round"] == 1 for e in of_first["results"])


def test_the_ledger_is_paginated_and_filtered_by_period(member_client, tenant):
    fund(tenant, monthly=50)
    settled_run(tenant, [(FileStatus.COMPLETED, "")])
    backdate_all(40)
    fund(tenant, purchased=5)
    now = timezone.now()

    page = member_client.get("/api/credits/ledger", {"limit": 2, "offset": 0}).json()
    recent = member_client.get("/api/credits/ledger", {"since": (now - timedelta(days=1)).isoformat()}).json()
    old = member_client.get("/api/credits/ledger", {"until": (now - timedelta(days=30)).isoformat()}).json()
    bad = member_client.get("/api/credits/ledger", {"since": "yesterday"})

    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    assert [e["reason"] for e in recent["results"]] == ["purchase"]
    assert [e["reason"] for e in old["results"]] == ["capture", "reserve", "grant"]
    assert bad.status_code == 400 and "since" in bad.json()["error"]["fields"]


def csv_rows(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_export_has_one_line_per_movement(member_client, tenant, platform_admin):
    fund(tenant, monthly=50)
    run = settled_run(tenant, [(FileStatus.COMPLETED, ""), (FileStatus.FAILED, "time_limit")])

    response = member_client.get("/api/credits/ledger.csv", {"run": str(run.pk)})
    as_admin = client_for(platform_admin).get("/api/credits/ledger.csv", {"tenant": str(tenant.pk)})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    assert [(r["reason"], r["amount"], r["files"], r["run"]) for r in rows] == [
        ("release", "2", "1", str(run.pk)),
        ("capture", "2", "1", str(run.pk)),
        ("reserve", "4", "2", str(run.pk)),
    ]
    admin_rows = csv_rows(as_admin)
    assert len(admin_rows) == CreditLedgerEntry.objects.filter(tenant=tenant).count() == 4


def test_anonymous_is_401(tenant):
    assert client_for(None).get("/api/credits/ledger").status_code == 401
    assert client_for(None).get("/api/credits/ledger.csv").status_code == 401
