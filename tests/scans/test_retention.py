"""Scans and retention: stored pages of long-finished scans are pruned; DELETE /api/scans/{id} removes a
finished scan with its executions, pages, stage, jobs and events."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from orchestration import events, retention, stages
from orchestration.models import Event, EventStream, Job, Stage
from scans.models import PageState, Scan, ScanPage, ScanStatus, ServiceExecution
from scans.retention import PRUNER

from ..helpers import client_for

pytestmark = pytest.mark.django_db


def make_scan(tenant, *, status: str, finished_days_ago: float = 0) -> Scan:
    with transaction.atomic():
        stage = stages.stage_create(kind="scan", ref="scan:test", stream="scan:test")
        scan = Scan.objects.create(
            tenant=tenant,
            url="https://example.com",
            services=["headers"],
            status=status,
            stage=stage,
            finished_at=timezone.now() - timedelta(days=finished_days_ago),
        )
        Stage.objects.filter(pk=stage.pk).update(stream=scan.stream, ref=f"scan:{scan.pk}")
        stages.stage_start_round(
            stage=stage,
            jobs=[stages.JobSpec(key=f"scan:{scan.pk}:headers", kind="scan.service", queue="tests-private")],
        )
        ServiceExecution.objects.create(scan=scan, service="headers")
        ScanPage.objects.create(
            scan=scan, round=1, state=PageState.READY, claim_token="t", claim_expires_at=timezone.now()
        )
        events.emit(stream=scan.stream, type="scan_created")
    return scan


def test_pages_of_scans_finished_before_the_cutoff_are_pruned(tenant):
    old = make_scan(tenant, status=ScanStatus.COMPLETED, finished_days_ago=31)
    young = make_scan(tenant, status=ScanStatus.PARTIAL, finished_days_ago=1)
    running = make_scan(tenant, status=ScanStatus.RUNNING, finished_days_ago=40)

    counts = retention.prune()

    assert counts[PRUNER] == 1
    assert not ScanPage.objects.filter(scan=old).exists()
    assert ScanPage.objects.filter(scan=young).exists() and ScanPage.objects.filter(scan=running).exists()


@pytest.mark.django_db(transaction=True)  # committed: the foreign keys are checked
def test_deleting_a_finished_scan_removes_its_events_pages_jobs_and_stage(admin_client, tenant):
    scan = make_scan(tenant, status=ScanStatus.COMPLETED)
    other = make_scan(tenant, status=ScanStatus.COMPLETED)
    stage_id = scan.stage_id
    assert stage_id is not None

    response = admin_client.delete(f"/api/scans/{scan.pk}")

    assert response.status_code == 204
    assert not Scan.objects.filter(pk=scan.pk).exists()
    assert not ServiceExecution.objects.filter(scan_id=scan.pk).exists()
    assert not ScanPage.objects.filter(scan_id=scan.pk).exists()
    assert not Stage.objects.filter(pk=stage_id).exists() and not Job.objects.filter(stage_id=stage_id).exists()
    assert not Event.objects.filter(stream=scan.stream).exists()
    assert not EventStream.objects.filter(name=scan.stream).exists()
    assert Event.objects.filter(stream=other.stream).count() == 1 and Job.objects.filter(stage=other.stage).exists()
    assert admin_client.get(f"/api/scans/{scan.pk}").status_code == 404


@pytest.mark.parametrize("status", [ScanStatus.PENDING, ScanStatus.RUNNING])
def test_a_scan_that_has_not_finished_cannot_be_deleted(admin_client, tenant, status):
    scan = make_scan(tenant, status=status)

    response = admin_client.delete(f"/api/scans/{scan.pk}")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "scan_running"
    assert Scan.objects.filter(pk=scan.pk).exists() and Event.objects.filter(stream=scan.stream).exists()


def test_only_tenant_admins_delete_scans_and_only_their_tenants(member_client, other_tenant, tenant):
    scan = make_scan(tenant, status=ScanStatus.COMPLETED)
    foreign = make_scan(other_tenant, status=ScanStatus.COMPLETED)

    assert member_client.delete(f"/api/scans/{scan.pk}").status_code == 403
    assert client_for(None).delete(f"/api/scans/{scan.pk}").status_code == 401
    assert member_client.delete(f"/api/scans/{foreign.pk}").status_code == 404
    assert Scan.objects.filter(pk__in=[scan.pk, foreign.pk]).count() == 2
