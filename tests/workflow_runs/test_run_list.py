"""The run list is built from `values()` rows of the columns it shows (`selectors.RUN_SUMMARY_FIELDS`):
it must answer what the full models answer, in a fixed number of queries."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from orchestration.models import Stage
from workflow_runs.api.presenters import run_summary
from workflow_runs.models import FileStatus, RunStatus, Template, WorkflowRun

from ..helpers import client_for
from .factories import make_template, run_in_state

pytestmark = pytest.mark.django_db


def varied_runs(tenant) -> list[WorkflowRun]:
    template = make_template(tenant=tenant)
    runs = [
        run_in_state(tenant=tenant, template=template, files=[(FileStatus.COMPLETED, 0), (FileStatus.FAILED, 1)]),
        run_in_state(tenant=tenant, template=template, files=[(FileStatus.COMPLETED, 0)], status=RunStatus.COMPLETED),
    ]
    running = run_in_state(tenant=tenant, template=template, files=[(FileStatus.PENDING, 0)] * 3)
    WorkflowRun.objects.filter(pk=running.pk).update(status=RunStatus.RUNNING, finished_at=None, credits_monthly=3)
    Stage.objects.filter(workflow_run=running).update(succeeded=1, failed=1, errored=0)  # live counters
    Template.objects.filter(pk=template.pk).update(archived_at=timezone.now())
    return [*runs, running]


def test_a_list_page_answers_what_the_full_models_answer(tenant, tenant_admin):
    varied_runs(tenant)

    listed = client_for(tenant_admin).get("/api/workflow-runs?limit=50").json()["results"]

    full = WorkflowRun.objects.filter(tenant=tenant).select_related("template", "stage")
    expected = json.loads(JSONRenderer().render([run_summary(run) for run in full]))
    assert listed == expected
    assert {row["status"] for row in listed} == {
        RunStatus.COMPLETED_WITH_ERRORS,
        RunStatus.COMPLETED,
        RunStatus.RUNNING,
    }
    assert all(row["template"]["archived"] for row in listed)


def test_a_list_page_costs_the_same_queries_for_1_run_and_for_20(tenant, tenant_admin):
    client = client_for(tenant_admin)

    def queries_for_a_page() -> int:
        client.get("/api/workflow-runs?limit=50")
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/workflow-runs?limit=50").status_code == 200
        return len(queries.captured_queries)

    template = make_template(tenant=tenant)
    run_in_state(tenant=tenant, template=template, files=[(FileStatus.FAILED, 0)])
    one = queries_for_a_page()
    for _ in range(19):
        run_in_state(tenant=tenant, template=template, files=[(FileStatus.FAILED, 0)])
    assert queries_for_a_page() == one
