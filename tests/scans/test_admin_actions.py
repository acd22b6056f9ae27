"""Retrying chosen scan services and cancelling scans from the admin, through the scan services, on
real workers."""

import pytest

from scans.models import ExecutionStatus, Scan, ServiceExecution

from ..admin_actions import act, admin_browser
from .scanning import start_scan, wait_final

pytestmark = pytest.mark.django_db(transaction=True)

SERVICES = "/admin/scans/serviceexecution/"
SCANS = "/admin/scans/scan/"


def test_retrying_one_selected_service_retries_it_alone(celery_worker, site, admin_client, platform_admin):
    site.fail_path["/good"] = 503
    scan = wait_final(admin_client, start_scan(admin_client, site.url("/good"), ["meta", "schema"])["id"])
    assert scan["status"] == "failed"
    del site.fail_path["/good"]
    meta = ServiceExecution.objects.get(scan_id=scan["id"], service="meta")

    shown = act(admin_browser(platform_admin), SERVICES, "retry_services", [meta])

    assert len(shown) == 1 and shown[0].endswith(": retry started."), shown
    after = wait_final(admin_client, scan["id"])
    assert (after["status"], after["services"]["meta"]["status"]) == ("partial", ExecutionStatus.SUCCESS)
    assert after["services"]["schema"]["status"] == ExecutionStatus.FAILED


def test_a_service_that_cannot_be_retried_shows_the_apis_400_and_a_finished_scan_cannot_be_cancelled(
    celery_worker, site, admin_client, platform_admin
):
    scan = wait_final(admin_client, start_scan(admin_client, site.url("/good"), ["rank_tracker"])["id"])
    client = admin_browser(platform_admin)

    retried = act(client, SERVICES, "retry_services", list(ServiceExecution.objects.filter(scan_id=scan["id"])))
    cancelled = act(client, SCANS, "cancel_scans", [Scan.objects.get(pk=scan["id"])])

    assert "(400 NOT_RETRYABLE)" in retried[0], retried
    assert "(409" in cancelled[0], cancelled
