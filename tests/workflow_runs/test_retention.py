"""Retention of uploads: a run finished longer ago than the retention age loses its files, and Continue
then answers 409 `files_expired`; younger or running runs keep theirs."""

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from orchestration import retention
from workflow_runs.models import FileStatus, RunFile, RunStatus, WorkflowRun
from workflow_runs.retention import PRUNER, run_files_prune

from .factories import balance, fund, make_template, run_in_state

pytestmark = pytest.mark.django_db

F, C = FileStatus.FAILED, FileStatus.COMPLETED


@pytest.fixture
def template(tenant):
    return make_template(tenant=tenant, credits_per_run=3)


def finished_days_ago(run: WorkflowRun, days: float) -> None:
    WorkflowRun.objects.filter(pk=run.pk).update(finished_at=timezone.now() - timedelta(days=days))


def stored_names(run: WorkflowRun) -> list[str]:
    return list(RunFile.objects.filter(run=run).order_by("index").values_list("file", flat=True))


def test_uploads_of_runs_finished_before_the_cutoff_are_deleted_from_storage_and_cleared(tenant, template):
    old = run_in_state(tenant=tenant, template=template, files=[(C, 0), (F, 0)])
    young = run_in_state(tenant=tenant, template=template, files=[(F, 0)])
    running = run_in_state(tenant=tenant, template=template, files=[(F, 0)], status=RunStatus.RUNNING)
    finished_days_ago(old, 31)
    finished_days_ago(young, 29)
    finished_days_ago(running, 40)  # a Continue reopened it: it is not finished
    old_names = stored_names(old)
    assert all(default_storage.exists(name) for name in old_names)

    counts = retention.prune()

    assert counts[PRUNER] == 2
    assert stored_names(old) == ["", ""]
    assert not any(default_storage.exists(name) for name in old_names)
    assert RunFile.objects.get(run=old, index=0).output == {"words": 4}  # outcomes stay
    for run in (young, running):
        assert all(name and default_storage.exists(name) for name in stored_names(run))


def test_one_call_clears_at_most_one_batch(tenant, template):
    run = run_in_state(tenant=tenant, template=template, files=[(F, 0), (F, 0), (F, 0)])
    finished_days_ago(run, 31)

    assert run_files_prune(retention.retention_cutoff(), 2) == 2
    assert sorted(stored_names(run)).count("") == 2


def test_continue_on_a_run_whose_files_were_pruned_is_409_files_expired(admin_client, tenant, template):
    fund(tenant, monthly=100)
    run = run_in_state(tenant=tenant, template=template, files=[(C, 0), (F, 0)])
    finished_days_ago(run, 31)
    retention.prune()

    response = admin_client.post(f"/api/workflow-runs/{run.pk}/retry-failed")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "files_expired"
    assert balance(tenant) == (100, 0)
    assert WorkflowRun.objects.get(pk=run.pk).status == RunStatus.COMPLETED_WITH_ERRORS
    detail = admin_client.get(f"/api/workflow-runs/{run.pk}").json()
    assert (detail["canContinue"], detail["continueBlockedReason"]) == (False, "files_expired")
