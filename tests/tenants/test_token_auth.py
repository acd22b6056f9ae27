"""API token authentication: one query per request, and knox's rules (expiry, renewal, inactive users)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework.test import APIClient

from tenants.services import token_issue

pytestmark = pytest.mark.django_db


def token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_token_request_reads_the_token_table_once(tenant_admin):
    _, token = AuthToken.objects.create(tenant_admin)
    client = token_client(token)
    client.get("/api/me")  # a first request may renew the expiry (a write); the next ones do not
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/me").status_code == 200
    token_reads = [q["sql"] for q in queries.captured_queries if "knox_authtoken" in q["sql"]]
    assert len(token_reads) == 1, token_reads


def test_an_expired_token_is_refused_and_deleted_when_presented(tenant_admin):
    instance, token = AuthToken.objects.create(tenant_admin)
    AuthToken.objects.filter(pk=instance.pk).update(expiry=timezone.now() - timedelta(seconds=1))

    assert token_client(token).get("/api/me").status_code == 401
    assert not AuthToken.objects.filter(pk=instance.pk).exists()


def test_the_users_other_expired_tokens_go_at_their_next_login(tenant_admin):
    expired, _ = AuthToken.objects.create(tenant_admin)
    AuthToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    _, live = AuthToken.objects.create(tenant_admin)

    assert token_client(live).get("/api/me").status_code == 200
    assert AuthToken.objects.filter(pk=expired.pk).exists()  # not on every request any more…
    token_issue(user=tenant_admin)
    assert not AuthToken.objects.filter(pk=expired.pk).exists()  # …but at the next login


def test_a_used_token_is_renewed_once_its_expiry_would_move_enough(tenant_admin):
    instance, token = AuthToken.objects.create(tenant_admin)
    soon = timezone.now() + timedelta(minutes=5)
    AuthToken.objects.filter(pk=instance.pk).update(expiry=soon)

    assert token_client(token).get("/api/me").status_code == 200
    renewed = AuthToken.objects.get(pk=instance.pk).expiry
    assert renewed > soon + timedelta(seconds=knox_settings.MIN_REFRESH_INTERVAL)


def test_a_deactivated_users_token_is_refused(tenant_admin):
    _, token = AuthToken.objects.create(tenant_admin)
    type(tenant_admin).objects.filter(pk=tenant_admin.pk).update(is_active=False)

    assert token_client(token).get("/api/me").status_code == 401


@pytest.mark.parametrize("token", ["", "x" * 64, "é", "abc\x00def", "a" * 300])
def test_a_malformed_token_is_a_401_not_a_500(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/me").status_code == 401
