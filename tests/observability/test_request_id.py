"""A request id per request: a sane `X-Request-ID` is kept, anything else replaced; every answer
echoes it, errors in the envelope too; the jobs the request enqueues store it with their creator."""

import re

import pytest

from orchestration.models import Job

from ..scans.scanning import start_scan

pytestmark = pytest.mark.django_db

GENERATED = re.compile(r"[0-9a-f]{32}")


def test_a_sane_request_id_is_echoed(admin_client):
    response = admin_client.get("/api/scans", HTTP_X_REQUEST_ID="abc-123.DEF:9_z")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "abc-123.DEF:9_z"


def test_without_a_request_id_one_is_generated_per_request(admin_client):
    first = admin_client.get("/api/scans")["X-Request-ID"]
    second = admin_client.get("/api/scans")["X-Request-ID"]
    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second)
    assert first != second


@pytest.mark.parametrize("offered", ["a" * 129, "abc def", "abc\r\nSet-Cookie: x=1", "<script>", "ünïcode", ""])
def test_an_unsafe_or_overlong_request_id_is_replaced(admin_client, offered):
    response = admin_client.get("/api/scans", HTTP_X_REQUEST_ID=offered)
    assert GENERATED.fullmatch(response["X-Request-ID"])


def test_error_answers_carry_the_request_id_too(client):
    unauthenticated = client.get("/api/scans", HTTP_X_REQUEST_ID="req-401")
    unknown = client.get("/api/no-such-thing", HTTP_X_REQUEST_ID="req-404")
    assert (unauthenticated.status_code, unauthenticated["X-Request-ID"]) == (401, "req-401")
    assert (unknown.status_code, unknown["X-Request-ID"]) == (404, "req-404")
    assert "error" in unknown.json()


def test_the_jobs_a_request_enqueues_store_its_id_tenant_and_user(admin_client, tenant_admin, site):
    scan = start_scan(admin_client, site.url("/good"), ["meta", "links"], HTTP_X_REQUEST_ID="req-enqueue-1")
    origins = list(Job.objects.filter(stage__scan__pk=scan["id"]).values_list("origin", flat=True))
    assert len(origins) == 2
    expected = {"request_id": "req-enqueue-1", "tenant": str(tenant_admin.tenant_id), "user": str(tenant_admin.pk)}
    assert origins == [expected] * 2


def test_jobs_enqueued_outside_a_request_store_no_origin(tenant):
    from orchestration import stages
    from orchestration.diagnostics import JOB_KIND, STAGE_KIND

    from ..orchestration.engine import start_stage

    stage = start_stage([stages.JobSpec(key="origin-none-1", kind=JOB_KIND)], ref="origin-none")
    assert stage.kind == STAGE_KIND
    assert Job.objects.get(key="origin-none-1").origin is None
