"""Login brute force is throttled (429, per address and per username), a user never holds more tokens
than knox's limit, and passwords set through the API pass Django's validators."""

from __future__ import annotations

import pytest
from django.test import Client
from knox.models import AuthToken
from knox.settings import knox_settings

from tenants.models import Role
from tenants.throttles import LoginUsernameThrottle

from ..helpers import make_user

PASSWORD = "s3cret-pass!"


def _login(client: Client, username: str, password: str, address: str):
    return client.post(
        "/api/auth/login",
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )


@pytest.mark.django_db
def test_a_hundred_wrong_passwords_end_in_429_after_the_threshold(tenant):
    user = make_user(tenant=tenant)
    client = Client()
    statuses = [_login(client, user.username, f"wrong-{i}", "10.20.0.1").status_code for i in range(100)]
    assert statuses[:10] == [400] * 10  # the per-username threshold (10/min)
    assert set(statuses[10:]) == {429}
    throttled = _login(client, user.username, PASSWORD, "10.20.0.1")
    assert throttled.status_code == 429  # even the right password waits
    assert throttled.json()["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0


@pytest.mark.django_db
def test_one_address_guessing_many_usernames_is_throttled_too(tenant):
    client = Client()
    statuses = [_login(client, f"nobody-{i}", "wrong", "10.20.0.2").status_code for i in range(40)]
    assert statuses[:30] == [400] * 30  # the per-address threshold (30/min)
    assert set(statuses[30:]) == {429}


@pytest.mark.django_db
def test_a_forwarded_for_header_does_not_reset_the_address_throttle(tenant):
    client = Client()
    statuses = [
        client.post(
            "/api/auth/login",
            {"username": f"x{i}", "password": "w"},
            content_type="application/json",
            REMOTE_ADDR="10.20.0.3",
            HTTP_X_FORWARDED_FOR=f"1.2.3.{i}",
        ).status_code
        for i in range(31)
    ]
    assert statuses[-1] == 429


@pytest.mark.django_db
def test_logins_past_the_token_limit_revoke_the_oldest_tokens(tenant, monkeypatch):
    monkeypatch.setattr(LoginUsernameThrottle, "rate", "1000/min", raising=False)  # many right logins here
    user = make_user(tenant=tenant)
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    assert limit
    tokens = []
    for i in range(limit + 3):
        response = _login(Client(), user.username, PASSWORD, f"10.21.{i // 5}.{i}")
        assert response.status_code == 200
        tokens.append(response.json()["token"])
    assert AuthToken.objects.filter(user=user).count() == limit
    oldest, newest = Client(HTTP_AUTHORIZATION=f"Token {tokens[0]}"), Client(HTTP_AUTHORIZATION=f"Token {tokens[-1]}")
    assert oldest.get("/api/me").status_code == 401
    assert newest.get("/api/me").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("short1!", False),
        ("password123", False),
        ("12345678901", False),
        ("new-member-1", False),
        ("a-long-unusual-pass-7", True),
    ],
)
def test_passwords_set_through_the_api_pass_djangos_validators(admin_client, password, accepted):
    response = admin_client.post("/api/users", {"username": "new-member-1", "password": password}, format="json")
    assert response.status_code == (201 if accepted else 400), response.json()
    if not accepted:
        assert list(response.json()["error"]["fields"]) == ["password"]


@pytest.mark.django_db
def test_a_platform_admin_creating_a_user_is_validated_too(tenant):
    from ..helpers import client_for

    platform = client_for(make_user(tenant=None, role=Role.PLATFORM_ADMIN))
    response = platform.post(
        "/api/users", {"username": "p1", "password": "123456789", "tenant": str(tenant.pk)}, format="json"
    )
    assert response.status_code == 400
    assert "password" in response.json()["error"]["fields"]


def test_the_username_throttle_keys_any_username_as_printable_ascii(rf):
    """A username may hold control characters or any script; the cache key never does (the contract
    test's generated usernames made Django warn that such keys break memcached)."""
    from rest_framework.request import Request

    request = Request(rf.post("/api/auth/login"))
    request._full_data = {"username": "Mâ\x1e𫼲 " + "x" * 300}  # type: ignore[attr-defined]

    key = LoginUsernameThrottle().get_cache_key(request, view=None)

    assert key is not None and key.isascii() and key.isprintable() and len(key) < 100
