"""Cancelling a scan: services that had not started never run, the scan ends `cancelled` once nothing
runs, a duplicate cancel changes nothing, and only tenant admins may cancel."""

import pytest

from orchestration.models import Event, Job, JobState
from scans.models import Scan, ScanStatus

from ..helpers import wait_until
from .scanning import start_scan, wait_final

pytestmark = pytest.mark.django_db(transaction=True)

SERVICES = ["meta", "schema", "accessibility", "security_headers"]


def test_cancel_stops_a_scan_queued_services_never_run(celery_worker, site, admin_client, member_client):
    # The round's page is fetched once: a slow page keeps the session worker's two processes busy with
    # two services (one fetching it, one waiting for it) while the other two stay queued.
    site.delay_path["/good"] = 2.0
    scan_id = start_scan(admin_client, site.url("/good"), SERVICES)["id"]
    wait_until(
        lambda: Job.objects.filter(key__startswith=f"scan:{scan_id}:", state=JobState.RUNNING).count() == 2,
        message="two services running",
    )
    queued = set(
        Job.objects.filter(key__startswith=f"scan:{scan_id}:", state=JobState.QUEUED).values_list(
            "payload__service", flat=True
        )
    )
    assert len(queued) == 2

    assert member_client.post(f"/api/scans/{scan_id}/cancel").status_code == 403
    response = admin_client.post(f"/api/scans/{scan_id}/cancel")
    assert response.status_code == 202, response.content

    scan = wait_final(admin_client, scan_id)
    assert scan["status"] == ScanStatus.CANCELLED
    for name in queued:
        assert scan["services"][name]["status"] == "cancelled"
        job = Job.objects.get(key=f"scan:{scan_id}:{name}")
        assert (job.state, job.attempts) == (JobState.CANCELLED, 0), f"{name} was queued when cancelled, yet it ran"
    assert Job.objects.filter(key__startswith=f"scan:{scan_id}:", state=JobState.CANCELLED).count() >= 2
    stored = Scan.objects.get(pk=scan_id)
    assert stored.cancelled_at is not None and stored.cancelled_by_id is not None
    assert Event.objects.filter(stream=f"scan:{scan_id}", type="scan_cancelled").count() == 1

    again = admin_client.post(f"/api/scans/{scan_id}/cancel")
    assert again.status_code == 200 and again.json()["status"] == ScanStatus.CANCELLED
    assert Event.objects.filter(stream=f"scan:{scan_id}", type="scan_cancelled").count() == 1


def test_a_finished_scan_cannot_be_cancelled(celery_worker, site, admin_client):
    scan = wait_final(admin_client, start_scan(admin_client, site.url("/good"), ["meta"])["id"])
    response = admin_client.post(f"/api/scans/{scan['id']}/cancel")
    assert response.status_code == 409 and response.json()["error"]["code"] == "scan_finished"


def test_another_tenants_scan_cannot_be_cancelled(celery_worker, site, admin_client, other_tenant):
    from ..helpers import client_for, make_user

    scan_id = start_scan(admin_client, site.url("/good"), ["meta"])["id"]
    outsider = client_for(make_user(tenant=other_tenant, role="tenant_admin"))
    assert outsider.post(f"/api/scans/{scan_id}/cancel").status_code == 404
