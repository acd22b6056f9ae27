"""Tenants, users and authenticated API clients for tests and benchmarks (Django set up first)."""

from __future__ import annotations

import time

from rest_framework.test import APIClient

from tenants.models import Role, Tenant, User
from tenants.services import user_create

# Every account made here shares one password: these are throwaway tenants of tests and benchmarks.
TEST_PASSWORD = "s3cret-pass!"  # noqa: S105

_counter = iter(range(1, 10**9))


def make_tenant(name: str | None = None) -> Tenant:
    n = next(_counter)
    return Tenant.objects.create(name=name or f"Tenant {n}", slug=f"tenant-{n}-{time.monotonic_ns()}")


def make_user(*, tenant: Tenant | None, role: str = Role.TENANT_MEMBER, username: str | None = None) -> User:
    return user_create(
        username=username or f"user{next(_counter)}-{time.monotonic_ns()}",
        password=TEST_PASSWORD,
        tenant=tenant,
        role=role,
    )


def client_for(user: User | None) -> APIClient:
    """An API client authenticated with a real (hashed, expiring) token of `user`."""
    client = APIClient()
    if user is not None:
        from knox.models import AuthToken

        _, token = AuthToken.objects.create(user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client
