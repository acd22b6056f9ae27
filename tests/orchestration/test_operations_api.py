"""Health and metrics, as an operator sees them."""

import pytest
from rest_framework.test import APIClient

from orchestration import metrics

from ..helpers import client_for, wait_until
from .engine import finalised, probe, start_stage

pytestmark = pytest.mark.django_db(transaction=True)


def test_health_reports_database_redis_and_workers(celery_worker):
    response = wait_until(lambda: (r := APIClient().get("/api/health")).status_code == 200 and r, message="healthy")
    body = response.json()
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["workers"]["processes"] >= 1


def test_metrics_are_shared_counters_in_prometheus_text_and_json(celery_worker, platform_admin, tenant_admin):
    before = metrics.value("relay_jobs_ended_total", kind="diagnostic.probe", state="succeeded")
    stage = start_stage([probe(f"metrics:{i}") for i in range(3)], ref="metrics")
    wait_until(lambda: finalised(stage), message="stage finalised")

    series = 'relay_jobs_ended_total{kind="diagnostic.probe",state="succeeded"}'
    wait_until(
        lambda: metrics.value("relay_jobs_ended_total", kind="diagnostic.probe", state="succeeded") == before + 3,
        message="counter incremented by the worker",
    )
    text = APIClient().get("/metrics").content.decode()
    assert "# TYPE relay_jobs_ended_total counter" in text
    assert f"{series} {before + 3}" in text
    assert client_for(platform_admin).get("/api/metrics").json()["counters"][series] == before + 3
    assert client_for(tenant_admin).get("/api/metrics").status_code == 403


def test_the_openapi_schema_renders(db):
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/health" in response.content
