"""Scans on real workers: every service runs as its own job; the scan status is recalculated when all
have ended; events tell the story."""

import pytest

from orchestration import metrics
from orchestration.models import Event, Job, JobState
from scans.models import InvalidTransition, Scan, ScanStatus

from ..helpers import wait_until
from .scanning import start_scan, wait_final

pytestmark = pytest.mark.django_db(transaction=True)

LOCAL = ["accessibility", "schema", "meta", "links", "security_headers"]


def test_every_local_service_runs_on_a_worker_with_known_findings(celery_worker, site, admin_client):
    created = start_scan(admin_client, site.url("/bad"), LOCAL, keywords=["welcome"])
    assert created["status"] == ScanStatus.PENDING
    assert {name: s["status"] for name, s in created["services"].items()} == dict.fromkeys(LOCAL, "pending")

    scan = wait_final(admin_client, created["id"])

    assert scan["status"] == ScanStatus.COMPLETED
    services = scan["services"]
    assert all(s["status"] == "success" and s["executionTimeMs"] is not None for s in services.values())
    assert services["accessibility"]["result"]["score"] == 59
    assert {f["rule"] for f in services["accessibility"]["result"]["findings"]} == {
        "html-lang",
        "image-alt",
        "form-label",
        "heading-order",
        "color-contrast",
    }
    assert services["links"]["result"]["brokenCount"] == 3
    assert services["meta"]["result"]["indexable"] is False
    assert services["meta"]["result"]["keywords"][0]["inBody"] is True
    assert services["security_headers"]["result"]["score"] == 0
    assert services["schema"]["result"]["count"] == 0
    assert services["meta"]["retry"] == {"attempts": 1, "maxAttempts": 2, "canRetry": False}
    keys = set(Job.objects.filter(stage__scan__pk=created["id"]).values_list("key", flat=True))
    assert keys == {f"scan:{created['id']}:{name}" for name in LOCAL}


def test_the_schema_service_reports_structured_data_through_the_worker(celery_worker, site, admin_client):
    scan = wait_final(admin_client, start_scan(admin_client, site.url("/schema"), ["schema"])["id"])
    result = scan["services"]["schema"]["result"]
    assert (result["count"], result["valid"], result["invalid"]) == (5, 3, 2)
    assert result["formats"] == ["json-ld", "microdata", "rdfa"]


def test_all_services_succeeding_completes_the_scan(celery_worker, site, admin_client):
    scan = wait_final(admin_client, start_scan(admin_client, site.url("/good"), ["meta", "security_headers"])["id"])
    assert scan["status"] == ScanStatus.COMPLETED
    assert scan["summary"] == {"total": 2, "success": 2, "failed": 0, "running": 0}


def test_some_services_failing_makes_the_scan_partial(celery_worker, site, admin_client):
    before = metrics.value("relay_scans_finalised_total", status="partial")
    scan = wait_final(admin_client, start_scan(admin_client, site.url("/good"), ["meta", "rank_tracker"])["id"])

    assert scan["status"] == ScanStatus.PARTIAL
    tracker = scan["services"]["rank_tracker"]
    assert tracker["status"] == "failed"
    assert tracker["error"] == {
        "code": "provider_not_configured",
        "retryable": False,
        "message": "the rank_tracker provider is not configured",
    }
    assert tracker["retry"] == {"attempts": 1, "maxAttempts": 2, "canRetry": False}
    assert scan["services"]["meta"]["status"] == "success"
    # Counted after the finalising transaction commits on the worker.
    wait_until(
        lambda: metrics.value("relay_scans_finalised_total", status="partial") == before + 1,
        message="the partial scan counted",
    )


def test_every_service_failing_fails_the_scan_and_a_slow_page_does_not_hold_the_others(
    celery_worker, site, admin_client
):
    site.delay_path["/missing"] = 1.5
    services = ["meta", "rank_tracker"]  # two jobs for the worker's two pool processes: they run at once
    scan = wait_final(admin_client, start_scan(admin_client, site.url("/missing"), services)["id"])

    assert scan["status"] == ScanStatus.FAILED
    meta, rank = (scan["services"][name] for name in services)
    assert (meta["error"]["code"], meta["error"]["retryable"]) == ("page_client_error", False)
    assert rank["error"]["code"] == "provider_not_configured"
    assert rank["finishedAt"] < meta["finishedAt"]  # it ended while meta still waited for the page
    # One engine attempt per user attempt, and one request for the page.
    assert site.path_hits("/missing") == 1
    job = Job.objects.get(key=f"scan:{scan['id']}:meta")
    assert (job.state, job.attempts) == (JobState.ERROR, 1)


def test_events_report_the_scan_from_start_to_end(celery_worker, site, admin_client):
    scan_id = start_scan(admin_client, site.url("/good"), ["meta", "rank_tracker"])["id"]
    wait_final(admin_client, scan_id)

    types = list(Event.objects.filter(stream=f"scan:{scan_id}").values_list("type", flat=True))
    assert types[0] == "scan_started" and types[-1] == "scan_completed"
    assert sorted(types[1:-1]) == ["service_completed", "service_failed", "service_started", "service_started"]
    last = Event.objects.filter(stream=f"scan:{scan_id}").last()
    assert last.payload["status"] == "partial"


def test_invalid_transitions_are_rejected_by_the_model_layer(tenant):
    scan = Scan.objects.create(tenant=tenant, url="http://x.test/", services=["meta"])
    with pytest.raises(InvalidTransition):
        scan.check_transition(ScanStatus.COMPLETED)  # pending → completed skips running
    scan.status = ScanStatus.COMPLETED
    with pytest.raises(InvalidTransition):
        scan.check_transition(ScanStatus.PARTIAL)
    scan.check_transition(ScanStatus.RUNNING)  # a retry


def test_a_compare_and_set_transition_loses_to_a_concurrent_writer(tenant):
    from scans.services import scan_transition

    scan = Scan.objects.create(tenant=tenant, url="http://x.test/", services=["meta"])
    stale = Scan.objects.get(pk=scan.pk)
    scan_transition(scan=scan, target=ScanStatus.RUNNING)
    with pytest.raises(InvalidTransition):
        scan_transition(scan=stale, target=ScanStatus.FAILED)  # still thinks pending; the row is running
    assert Scan.objects.get(pk=scan.pk).status == ScanStatus.RUNNING
