"""Idempotency-Key on scan creation and scan retry: a retried POST replays the first answer."""

import pytest

from scans.models import Scan

pytestmark = pytest.mark.django_db


def test_creating_a_scan_twice_with_one_key_makes_one_scan(member_client, other_tenant):
    body = {"url": "http://a.test/", "services": ["meta"]}

    first = member_client.post("/api/scans", body, format="json", HTTP_IDEMPOTENCY_KEY="scan-1")
    again = member_client.post("/api/scans", body, format="json", HTTP_IDEMPOTENCY_KEY="scan-1")
    other = member_client.post(
        "/api/scans", {**body, "url": "http://b.test/"}, format="json", HTTP_IDEMPOTENCY_KEY="scan-1"
    )

    assert first.status_code == again.status_code == 201, first.content
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert Scan.objects.count() == 1


def test_the_schema_documents_the_header_on_scan_posts(member_client):
    schema = member_client.get("/api/schema/", {"format": "json"}).json()

    for path in ("/api/scans", "/api/scans/{scan_id}/retry"):
        parameters = schema["paths"][path]["post"]["parameters"]
        assert "Idempotency-Key" in [p["name"] for p in parameters if p["in"] == "header"], path
