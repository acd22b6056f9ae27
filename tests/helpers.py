"""Small helpers the tests share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

from rest_framework.test import APIClient

from tenants.models import Role, Tenant, User
from tenants.services import user_create

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | Literal[False] | None],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll until `predicate()` is truthy; return its value. Fails the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


_counter = iter(range(1, 10**9))


def make_tenant(name: str | None = None) -> Tenant:
    n = next(_counter)
    return Tenant.objects.create(name=name or f"Tenant {n}", slug=f"tenant-{n}-{time.monotonic_ns()}")


def make_user(*, tenant: Tenant | None, role: str = Role.TENANT_MEMBER, username: str | None = None) -> User:
    return user_create(
        username=username or f"user{next(_counter)}-{time.monotonic_ns()}",
        password="s3cret-pass!",
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
