"""Per-service retry: only failed, retryable services under their limit run again, in a new engine
round; successful results and other services are untouched; a bad request retries nothing."""

import pytest

from orchestration.models import Event, Job, Stage
from scans.models import Scan, ScanStatus

from .scanning import retry, start_scan, wait_final

pytestmark = pytest.mark.django_db(transaction=True)


PAGE_SERVICES = {"accessibility", "links", "meta", "schema", "security_headers"}


def failed_scan(client, site, services, failing, **extra):
    """A finished scan whose `failing` services failed (retryable) and whose other page services
    succeeded. The page services share one fetch per round, so that takes two rounds: all of them
    fail in the first (the page answers 503), the others are retried with the page back; then the
    page fails again, for the test's own retries."""
    site.fail_path["/good"] = 503
    scan = wait_final(client, start_scan(client, site.url("/good"), services, **extra)["id"])
    succeeding = [name for name in services if name in PAGE_SERVICES and name not in failing]
    if succeeding:
        del site.fail_path["/good"]
        assert retry(client, scan["id"], succeeding).status_code == 202
        scan = wait_final(client, scan["id"])
        site.fail_path["/good"] = 503
    retryable = {n for n, s in scan["services"].items() if s["status"] == "failed" and s["error"]["retryable"]}
    assert retryable == set(failing)
    return scan


def test_retry_status_lists_retryable_and_failed_services(celery_worker, site, admin_client):
    scan = failed_scan(admin_client, site, ["meta", "rank_tracker", "schema"], ["schema"])

    status = admin_client.get(f"/api/scans/{scan['id']}/retry/status").json()

    assert status["hasRetryableServices"] is True
    assert status["retryableServices"] == ["schema"]
    assert status["failedServices"] == ["rank_tracker", "schema"]
    assert status["retryMetadata"] == {
        "meta": {"status": "success", "attempts": 2, "maxAttempts": 2, "canRetry": False},
        "rank_tracker": {"status": "failed", "attempts": 1, "maxAttempts": 2, "canRetry": False},
        "schema": {"status": "failed", "attempts": 1, "maxAttempts": 2, "canRetry": True},
    }


def test_retrying_a_chosen_subset_leaves_everything_else_untouched(celery_worker, site, admin_client):
    scan = failed_scan(admin_client, site, ["accessibility", "schema", "meta"], ["accessibility", "schema"])
    assert scan["status"] == ScanStatus.PARTIAL
    del site.fail_path["/good"]

    response = retry(admin_client, scan["id"], ["accessibility"])

    assert response.status_code == 202, response.content
    assert response.json()["retriedServices"] == ["accessibility"]
    after = wait_final(admin_client, scan["id"])
    assert after["status"] == ScanStatus.PARTIAL  # schema is still failed
    assert after["services"]["accessibility"]["status"] == "success"
    assert after["services"]["accessibility"]["retry"] == {"attempts": 2, "maxAttempts": 2, "canRetry": False}
    assert after["services"]["schema"] == scan["services"]["schema"]
    assert after["services"]["meta"] == scan["services"]["meta"]
    # One fetch per round: the first (all failed), meta's retry, accessibility's retry.
    assert site.page_hits("page", "/good") == site.path_hits("/good") == 3
    stage = Stage.objects.get(scan__pk=scan["id"])
    assert (stage.round, stage.total, stage.succeeded) == (3, 1, 1)  # the new round ran exactly the retried one
    types = list(Event.objects.filter(stream=f"scan:{scan['id']}").values_list("type", flat=True))
    assert types[-4:] == ["retry_started", "service_started", "service_completed", "scan_completed"]


def test_retrying_everything_retries_every_retryable_failure_and_completes(celery_worker, site, admin_client):
    scan = failed_scan(admin_client, site, ["accessibility", "schema", "meta"], ["accessibility", "schema", "meta"])
    assert scan["status"] == ScanStatus.FAILED
    site.fail_path.clear()

    response = retry(admin_client, scan["id"])

    assert response.status_code == 202
    assert sorted(response.json()["retriedServices"]) == ["accessibility", "meta", "schema"]
    after = wait_final(admin_client, scan["id"])
    assert after["status"] == ScanStatus.COMPLETED
    assert {s["retry"]["attempts"] for s in after["services"].values()} == {2}
    assert all(s["error"] is None for s in after["services"].values())


def test_the_retry_limit_is_enforced(celery_worker, site, admin_client):
    scan = failed_scan(admin_client, site, ["meta", "schema"], ["schema"])
    assert retry(admin_client, scan["id"]).status_code == 202  # attempt 2 of 2, still failing
    after = wait_final(admin_client, scan["id"])
    assert after["services"]["schema"]["retry"] == {"attempts": 2, "maxAttempts": 2, "canRetry": False}

    named = retry(admin_client, scan["id"], ["schema"])
    everything = retry(admin_client, scan["id"])

    assert named.status_code == 400
    assert named.json()["error"]["code"] == "RETRY_LIMIT_EXCEEDED"
    assert named.json()["rejectedServices"]["schema"]["code"] == "RETRY_LIMIT_EXCEEDED"
    assert everything.status_code == 400
    assert everything.json()["error"]["code"] == "NO_RETRYABLE_SERVICES"
    assert site.path_hits("/good") == 3  # the first round, meta's retry, schema's one retry: no more


def test_max_attempts_is_configurable_per_scan(celery_worker, site, admin_client):
    once = failed_scan(admin_client, site, ["schema"], ["schema"], max_attempts=1)
    assert once["services"]["schema"]["retry"] == {"attempts": 1, "maxAttempts": 1, "canRetry": False}
    assert retry(admin_client, once["id"], ["schema"]).json()["error"]["code"] == "RETRY_LIMIT_EXCEEDED"

    thrice = failed_scan(admin_client, site, ["schema"], ["schema"], max_attempts=3)
    for attempt in (2, 3):
        assert retry(admin_client, thrice["id"], ["schema"]).status_code == 202
        assert wait_final(admin_client, thrice["id"])["services"]["schema"]["retry"]["attempts"] == attempt
    assert retry(admin_client, thrice["id"], ["schema"]).json()["error"]["code"] == "RETRY_LIMIT_EXCEEDED"


@pytest.mark.parametrize(
    ("services", "code"),
    [
        (["meta"], "NOT_FAILED"),
        (["rank_tracker"], "NOT_RETRYABLE"),
        (["backlinks"], "UNKNOWN_SERVICE"),  # a real service, not part of this scan
        (["no_such_service"], "UNKNOWN_SERVICE"),
        (["schema", "meta"], "NOT_FAILED"),  # one bad name rejects the whole request
    ],
)
def test_each_rejection_has_its_code_and_retries_nothing(celery_worker, site, admin_client, services, code):
    scan = failed_scan(admin_client, site, ["meta", "rank_tracker", "schema"], ["schema"])
    jobs_before = Job.objects.filter(stage__scan__pk=scan["id"]).count()

    response = retry(admin_client, scan["id"], services)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"]["code"] == code
    rejected = [name for name in services if name != "schema"]
    assert sorted(body["rejectedServices"]) == sorted(rejected)
    assert set(body["error"]["fields"]["services"]) == set(rejected)
    assert Job.objects.filter(stage__scan__pk=scan["id"]).count() == jobs_before
    assert Stage.objects.get(scan__pk=scan["id"]).round == 2  # the rounds of `failed_scan`, no more
    assert admin_client.get(f"/api/scans/{scan['id']}").json() == scan


def test_a_non_retryable_page_error_cannot_be_retried(celery_worker, site, admin_client):
    scan = wait_final(admin_client, start_scan(admin_client, site.url("/missing"), ["meta"])["id"])
    assert scan["services"]["meta"]["error"] == {
        "code": "page_client_error",
        "retryable": False,
        "message": "the page answered HTTP 404",
    }

    response = retry(admin_client, scan["id"], ["meta"])

    assert (response.status_code, response.json()["error"]["code"]) == (400, "NOT_RETRYABLE")


def test_a_running_scan_cannot_be_retried(celery_worker, site, admin_client):
    site.delay["page"] = 2
    scan = start_scan(admin_client, site.url("/good"), ["meta"])

    response = retry(admin_client, scan["id"], ["meta"])

    assert (response.status_code, response.json()["error"]["code"]) == (409, "SCAN_RUNNING")
    wait_final(admin_client, scan["id"])


@pytest.mark.parametrize("body", [{"services": []}, {"services": "schema"}, {"services": [1, {}]}])
def test_malformed_retry_requests_answer_400_with_field_errors(celery_worker, site, admin_client, body):
    scan = failed_scan(admin_client, site, ["schema"], ["schema"])
    response = admin_client.post(f"/api/scans/{scan['id']}/retry", body, format="json")
    assert response.status_code == 400
    assert "services" in response.json()["error"]["fields"]
    assert Scan.objects.get(pk=scan["id"]).status == ScanStatus.FAILED
