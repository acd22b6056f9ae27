"""The tenant isolation matrix: no credentials 401, a role that may not act 403, another tenant's 404."""

from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tenants.models import Role

from ..helpers import client_for, make_user

pytestmark = pytest.mark.django_db


def test_no_credentials_answer_401(tenant_admin):
    client = APIClient()
    assert client.get("/api/users").status_code == 401
    assert client.get(f"/api/users/{tenant_admin.pk}").status_code == 401
    assert client.get("/api/me").status_code == 401


def test_a_bad_expired_or_revoked_token_answers_401(tenant_admin):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/me").status_code == 401

    instance, token = AuthToken.objects.create(tenant_admin)
    instance.expiry = timezone.now() - timedelta(seconds=1)
    instance.save()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/me").status_code == 401

    client = client_for(tenant_admin)
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/me").status_code == 401


def test_tokens_are_stored_hashed(tenant_admin):
    _, token = AuthToken.objects.create(tenant_admin)
    assert not AuthToken.objects.filter(digest=token).exists()
    assert token not in {row.digest for row in AuthToken.objects.all()}


def test_login_gives_a_token_and_wrong_passwords_are_a_clear_400(tenant_admin):
    client = APIClient()
    ok = client.post("/api/auth/login", {"username": tenant_admin.username, "password": "s3cret-pass!"})
    wrong = client.post("/api/auth/login", {"username": tenant_admin.username, "password": "nope"})
    missing = client.post("/api/auth/login", {})

    assert ok.status_code == 200 and ok.json()["token"]
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_credentials"
    assert missing.status_code == 400 and set(missing.json()["error"]["fields"]) == {"username", "password"}


def test_a_member_may_not_manage_users_403(member_client, tenant_member):
    assert member_client.get("/api/users").status_code == 403
    assert member_client.post("/api/users", {"username": "x", "password": "long-enough"}).status_code == 403
    assert member_client.get(f"/api/users/{tenant_member.pk}").status_code == 200


def test_another_tenants_object_answers_404_not_403(admin_client, other_tenant):
    stranger = make_user(tenant=other_tenant, role=Role.TENANT_MEMBER)

    assert admin_client.get(f"/api/users/{stranger.pk}").status_code == 404
    assert stranger.username not in {user["username"] for user in admin_client.get("/api/users").json()}


def test_a_tenant_admin_creates_users_in_its_own_tenant_only(admin_client, tenant, other_tenant):
    response = admin_client.post(
        "/api/users", {"username": "new-member", "password": "long-enough", "tenant": str(other_tenant.pk)}
    )
    assert response.status_code == 201
    assert response.json()["tenant"] == str(tenant.pk)


def test_a_platform_admin_acts_on_any_tenant(platform_admin, other_tenant):
    client = client_for(platform_admin)
    stranger = make_user(tenant=other_tenant, role=Role.TENANT_MEMBER)

    assert client.get(f"/api/users/{stranger.pk}").status_code == 200
    assert client.get("/api/tenants").status_code == 200
    missing_tenant = client.post("/api/users", {"username": "orphan", "password": "long-enough"})
    assert missing_tenant.status_code == 400 and "tenant" in missing_tenant.json()["error"]["fields"]


def test_only_platform_admins_list_tenants(admin_client):
    assert admin_client.get("/api/tenants").status_code == 403


def test_platform_admins_set_a_tenants_cap_on_running_jobs(platform_admin, tenant, admin_client):
    from orchestration import fairness
    from tenants.fair_share import tenant_fairness_key

    platform = client_for(platform_admin)
    url = f"/api/tenants/{tenant.pk}/fair-share"
    assert platform.get(url).json() == {"maxRunningJobs": 50, "default": 50}
    assert platform.put(url, {"maxRunningJobs": 3}, format="json").json()["maxRunningJobs"] == 3
    assert fairness.max_running_of(tenant_fairness_key(tenant.pk)) == 3
    bad = platform.put(url, {"maxRunningJobs": -1}, format="json")
    assert bad.status_code == 400 and "maxRunningJobs" in bad.json()["error"]["fields"]
    assert platform.put(url, {"maxRunningJobs": None}, format="json").json()["maxRunningJobs"] == 50
    assert admin_client.put(url, {"maxRunningJobs": 500}, format="json").status_code == 403
    assert platform.get("/api/tenants/00000000-0000-0000-0000-000000000000/fair-share").status_code == 404
