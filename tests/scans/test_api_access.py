"""Who may see and do what: 401 without credentials, 404 for another tenant's scan, 403 for a retry by
someone who may not; and input validation with field-level messages."""

import pytest
from rest_framework.test import APIClient

from scans import services
from tenants.models import Role

from ..helpers import client_for, make_user

SCAN_PATHS = ["/api/scans/{id}", "/api/scans/{id}/retry/status", "/api/scans/{id}/events"]


@pytest.fixture
def scan(tenant, tenant_member):
    return services.scan_create(tenant=tenant, actor=tenant_member, url="http://127.0.0.1:9/", services=["meta"])


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/scans", "/api/scans/services", *SCAN_PATHS])
def test_no_credentials_is_401(scan, path):
    response = APIClient().get(path.format(id=scan.pk))
    assert response.status_code == 401


@pytest.mark.django_db
def test_posting_without_credentials_is_401(scan):
    client = APIClient()
    assert client.post("/api/scans", {"url": "http://a.test/"}, format="json").status_code == 401
    assert client.post(f"/api/scans/{scan.pk}/retry", {}, format="json").status_code == 401


def _db_for(path: str) -> pytest.MarkDecorator:
    """The event stream authenticates on a thread of its own, with its own connection: committed rows."""
    return pytest.mark.django_db(transaction=path.endswith("/events"))


@pytest.mark.parametrize("path", [pytest.param(path, marks=_db_for(path)) for path in SCAN_PATHS])
def test_another_tenants_scan_is_404(scan, other_tenant, path):
    outsider = client_for(make_user(tenant=other_tenant, role=Role.TENANT_ADMIN))
    response = outsider.get(path.format(id=scan.pk))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_another_tenants_scan_cannot_be_retried_or_listed(scan, other_tenant):
    outsider = client_for(make_user(tenant=other_tenant, role=Role.TENANT_ADMIN))
    assert outsider.post(f"/api/scans/{scan.pk}/retry", {}, format="json").status_code == 404
    assert outsider.get("/api/scans").json()["results"] == []


@pytest.mark.django_db
def test_only_the_author_or_a_tenant_admin_may_retry(scan, tenant, member_client, admin_client):
    colleague = client_for(make_user(tenant=tenant, role=Role.TENANT_MEMBER))
    denied = colleague.post(f"/api/scans/{scan.pk}/retry", {}, format="json")
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "permission_denied")
    # The author and an admin get past the permission check; the scan is not finished yet.
    for client in (member_client, admin_client):
        response = client.post(f"/api/scans/{scan.pk}/retry", {}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (409, "SCAN_RUNNING")
    assert colleague.get(f"/api/scans/{scan.pk}").status_code == 200  # colleagues may still look


@pytest.mark.django_db
def test_the_list_shows_the_tenants_scans_and_filters_by_status(scan, member_client, platform_admin):
    listed = member_client.get("/api/scans").json()
    assert [item["id"] for item in listed["results"]] == [str(scan.pk)]
    assert member_client.get("/api/scans?status=completed").json()["results"] == []
    assert member_client.get("/api/scans?status=bogus").status_code == 400
    assert client_for(platform_admin).get("/api/scans").json()["count"] >= 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://files.test/"}, "url"),
        ({"url": "not a url"}, "url"),
        ({}, "url"),
        ({"url": "http://a.test/", "services": ["meta", "teleport"]}, "services"),
        ({"url": "http://a.test/", "services": []}, "services"),
        ({"url": "http://a.test/", "max_attempts": 0}, "max_attempts"),
        ({"url": "http://a.test/", "max_attempts": 99}, "max_attempts"),
        ({"url": "http://a.test/", "keywords": "spade"}, "keywords"),
    ],
)
def test_invalid_scans_are_400_with_field_messages(member_client, body, field):
    response = member_client.post("/api/scans", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_a_scan_defaults_to_the_local_services_and_two_attempts(member_client):
    response = member_client.post("/api/scans", {"url": "http://a.test/", "keywords": ["spade"]}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert list(body["services"]) == ["accessibility", "schema", "meta", "links", "security_headers"]
    assert (body["maxAttempts"], body["keywords"], body["status"]) == (2, ["spade"], "pending")


@pytest.mark.django_db
def test_a_platform_admin_names_the_tenant(platform_admin, tenant):
    client = client_for(platform_admin)
    missing = client.post("/api/scans", {"url": "http://a.test/"}, format="json")
    assert missing.status_code == 400 and "tenant" in missing.json()["error"]["fields"]
    created = client.post("/api/scans", {"url": "http://a.test/", "tenant": str(tenant.pk)}, format="json")
    assert (created.status_code, created.json()["tenant"]) == (201, str(tenant.pk))


@pytest.mark.django_db
def test_the_services_endpoint_says_which_need_a_provider(member_client):
    listed = {item["name"]: item for item in member_client.get("/api/scans/services").json()}
    assert set(listed) == {"accessibility", "schema", "meta", "links", "security_headers", "rank_tracker", "backlinks"}
    assert (listed["rank_tracker"]["needsProvider"], listed["rank_tracker"]["configured"]) == (True, False)
    assert listed["meta"]["configured"] is True
