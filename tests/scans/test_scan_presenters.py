"""A list page of scans is built from `values()` rows; it must answer exactly what a scan's own model,
through the documented `ScanSerializer`, answers — and in a fixed number of queries."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from scans import selectors, services
from scans.api.serializers import ScanSerializer
from scans.models import ExecutionStatus, Scan, ServiceExecution

from ..helpers import client_for

pytestmark = pytest.mark.django_db

SERVICES = ["meta", "security_headers", "headers"]


def varied_scans(tenant, actor) -> list[Scan]:
    """Scans whose executions cover every field's shapes: success with a result, failed retryable,
    failed for good, out of attempts, still pending; and one scan keyword-less, one with keywords."""
    now = timezone.now()
    made = [
        services.scan_create(
            tenant=tenant, actor=actor, url=f"http://127.0.0.1:9/{i}", services=SERVICES, keywords=["a", "é"][: i % 3]
        )
        for i in range(4)
    ]
    shapes = [
        {"status": ExecutionStatus.SUCCESS, "result": {"score": 87, "nested": {"at": "x"}}, "execution_time_ms": 12},
        {"status": ExecutionStatus.FAILED, "error_code": "timeout", "error_message": "slow", "error_retryable": True},
        {"status": ExecutionStatus.FAILED, "error_code": "bad_url", "error_message": "no", "error_retryable": False},
        {"status": ExecutionStatus.FAILED, "error_code": "timeout", "error_retryable": True, "attempts": 2},
    ]
    for i, scan in enumerate(made):
        for j, execution in enumerate(ServiceExecution.objects.filter(scan=scan).order_by("service")):
            shape = shapes[(i + j) % (len(shapes) + 1)] if (i + j) % (len(shapes) + 1) < len(shapes) else {}
            ServiceExecution.objects.filter(pk=execution.pk).update(
                started_at=now - timedelta(seconds=j + 1), finished_at=now if shape else None, round=1 + i, **shape
            )
    return made


def rendered(data) -> Any:
    return json.loads(JSONRenderer().render(data))


def test_a_list_page_answers_what_each_scans_model_answers(tenant, tenant_admin):
    api_client = client_for(tenant_admin)
    made = varied_scans(tenant, tenant_admin)

    page = api_client.get("/api/scans?limit=50")
    assert page.status_code == 200
    listed = {row["id"]: row for row in page.json()["results"]}

    models = selectors.scan_list(user=tenant_admin)
    expected = {row["id"]: row for row in rendered(ScanSerializer(models, many=True).data)}
    assert set(listed) == {str(scan.pk) for scan in made}
    assert listed == expected
    for scan in made:  # and the detail (from the model, without the field pass) is the same body
        assert api_client.get(f"/api/scans/{scan.pk}").json() == expected[str(scan.pk)]


def test_services_show_in_the_order_the_scan_chose_them(tenant, tenant_admin):
    api_client = client_for(tenant_admin)
    chosen = ["security_headers", "meta"]
    services.scan_create(tenant=tenant, actor=tenant_admin, url="http://127.0.0.1:9/", services=chosen)

    (row,) = api_client.get("/api/scans").json()["results"]
    assert list(row["services"]) == chosen


def test_a_list_page_costs_the_same_queries_for_1_scan_and_for_50(tenant, tenant_admin):
    api_client = client_for(tenant_admin)

    def queries_for_a_page() -> int:
        api_client.get("/api/scans?limit=50")  # a token renewal or a cold cache is not the page's cost
        with CaptureQueriesContext(connection) as queries:
            assert api_client.get("/api/scans?limit=50").status_code == 200
        return len(queries.captured_queries)

    services.scan_create(tenant=tenant, actor=tenant_admin, url="http://127.0.0.1:9/", services=SERVICES)
    one = queries_for_a_page()
    for _ in range(49):
        services.scan_create(tenant=tenant, actor=tenant_admin, url="http://127.0.0.1:9/", services=SERVICES)
    assert queries_for_a_page() == one
