"""A scan fetches its page once per round, whichever workers run its services: the first service job
claims the fetch in PostgreSQL, the others read the stored page (or its error); a dead claimer's
claim expires and is taken over."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from orchestration.errors import JobError
from scans import pages
from scans.checks.registry import CheckSettings
from scans.conf import DEFAULT_SERVICES
from scans.models import Scan, ScanPage

from .scanning import start_scan, wait_final

SETTINGS = CheckSettings(fetch_timeout=5.0)


@pytest.mark.django_db(transaction=True)
def test_a_scan_of_five_services_requests_its_page_once(celery_worker, site, admin_client):
    site.delay_path["/good"] = 0.5  # every service is waiting for the page while it is fetched
    scan = wait_final(admin_client, start_scan(admin_client, site.url("/good"), DEFAULT_SERVICES)["id"])

    assert scan["status"] == "completed", scan
    # One request for the page; links checks its own links, one of which is the page itself (#top).
    assert site.page_hits("page", "/good") == 1
    assert site.path_hits("/good") == 1 + site.page_hits("links", "/good"), site.hits
    assert scan["services"]["meta"]["result"]["title"] == "Relay garden tools and supplies"
    assert scan["services"]["links"]["result"]["checked"] >= 1  # links still checks its links itself
    assert not ScanPage.objects.filter(scan_id=scan["id"]).exists()  # dropped when the round ended


@pytest.fixture
def scan(tenant):
    # A bare scan row (no stage, no jobs): the session's worker must not run it and end its round.
    return Scan.objects.create(tenant=tenant, url="http://127.0.0.1:9/", services=["meta"])


@pytest.fixture(autouse=True)
def _no_process_cache():
    pages._local.clear()
    yield
    pages._local.clear()


@pytest.mark.django_db(transaction=True)
def test_concurrent_services_share_one_fetch(site, scan):
    site.delay_path["/good"] = 0.3
    url = site.url("/good")
    results: list[str] = []

    def service() -> None:
        try:
            results.append(pages.shared_page(scan_id=scan.pk, round=1, url=url, settings=SETTINGS).html)
        finally:
            connection.close()

    threads = [threading.Thread(target=service) for _ in range(4)]
    for thread in threads:
        thread.start()
        pages._local.clear()  # as if each ran in its own worker process
    for thread in threads:
        thread.join(timeout=30)

    assert len(results) == 4 and len(set(results)) == 1
    assert site.path_hits("/good") == 1, site.hits


@pytest.mark.django_db
def test_a_failed_fetch_is_every_services_error(site, scan):
    site.fail_path["/good"] = 503
    with pytest.raises(JobError) as first:
        pages.shared_page(scan_id=scan.pk, round=1, url=site.url("/good"), settings=SETTINGS)
    with pytest.raises(JobError) as second:
        pages.shared_page(scan_id=scan.pk, round=1, url=site.url("/good"), settings=SETTINGS)
    assert (first.value.code, second.value.code) == ("page_server_error", "page_server_error")
    assert second.value.retryable and second.value.message == first.value.message
    assert site.path_hits("/good") == 1
    # A new round (a retry) fetches again.
    del site.fail_path["/good"]
    assert pages.shared_page(scan_id=scan.pk, round=2, url=site.url("/good"), settings=SETTINGS).status == 200
    assert site.path_hits("/good") == 2


@pytest.mark.django_db
def test_an_expired_claim_is_taken_over_and_a_live_one_is_waited_for(site, scan):
    ScanPage.objects.create(
        scan=scan, round=1, claim_token="dead", claim_expires_at=timezone.now() - timedelta(seconds=1)
    )
    page = pages.shared_page(scan_id=scan.pk, round=1, url=site.url("/good"), settings=SETTINGS)
    assert page.status == 200 and site.path_hits("/good") == 1
    row = ScanPage.objects.get(scan=scan, round=1)
    assert (row.state, row.claim_token != "dead") == ("ready", True)

    pages._local.clear()
    ScanPage.objects.create(
        scan=scan, round=2, claim_token="alive", claim_expires_at=timezone.now() + timedelta(seconds=30)
    )
    fast = CheckSettings(fetch_timeout=0.1)  # waits 2 x (0.1 + margin) + margin, then gives up
    with pytest.raises(JobError) as waited:
        pages.shared_page(scan_id=scan.pk, round=2, url=site.url("/good"), settings=fast)
    assert waited.value.code == "page_timeout" and waited.value.retryable
    assert site.path_hits("/good") == 1  # it never fetched behind the live claim's back
