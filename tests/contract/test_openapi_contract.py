"""The contract matches the API: schemathesis generates requests from the served OpenAPI schema
(`/api/schema/`) and checks every answer against it (status codes, content types, headers, bodies,
invalid input refused, valid input accepted, auth not ignored, no 5xx), once per operation as a tenant
admin and as a tenant member, then as a stateful run that follows the links it infers between
operations (create a campaign, then read, change and delete it; and so on).

The requests go to the real Django app through schemathesis' WSGI transport, inside the test's
transaction (each test's rows vanish at its end). The SSE streams (`…/events`) are plain async Django
views that drf-spectacular does not document, so they are not in the schema; their behaviour has its
own tests (`tests/*/test_events_stream.py`). A worker runs beside, so `/api/health` answers 200.

Run it alone: `.venv/bin/python -m devstack test tests/contract` (a few minutes at most). The seed
is fixed (`derandomize`) so a run is reproducible; `CONTRACT_MAX_EXAMPLES` raises the examples per
operation for a longer local hunt.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from knox.models import AuthToken

from tenants.models import Role, Tenant

from ..helpers import make_tenant, make_user

MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "15"))
STATEFUL_EXAMPLES = int(os.environ.get("CONTRACT_STATEFUL_EXAMPLES", "15"))
# Generous: a step is a few ms, but both cores may be busy; it only stops a request that hangs.
DEADLINE = timedelta(seconds=10)

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())

CONTRACT_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=DEADLINE,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def served_app(db: None, control_plane: Any) -> Iterator[None]:
    """Requests reach the app in this thread, inside the test's transaction: keep Django from closing
    the test's connection at the end of each request (as Django's own test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def token_headers(*, tenant: Tenant, role: str) -> dict[str, str]:
    _, token = AuthToken.objects.create(make_user(tenant=tenant, role=role))
    return {"Authorization": f"Token {token}"}


@pytest.fixture
def as_tenant_admin(served_app: None) -> dict[str, str]:
    return token_headers(tenant=make_tenant(), role=Role.TENANT_ADMIN)


@pytest.fixture
def as_tenant_member(served_app: None) -> dict[str, str]:
    return token_headers(tenant=make_tenant(), role=Role.TENANT_MEMBER)


@schema.parametrize()
@CONTRACT_SETTINGS
def test_every_operation_keeps_the_contract_for_a_tenant_admin(case: schemathesis.Case, as_tenant_admin):
    case.call_and_validate(headers=as_tenant_admin)


@schema.parametrize()
@CONTRACT_SETTINGS
def test_every_operation_keeps_the_contract_for_a_tenant_member(case: schemathesis.Case, as_tenant_member):
    case.call_and_validate(headers=as_tenant_member)


def _stateful_run(headers: dict[str, str]) -> None:
    class Workflows(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": headers}

    Workflows.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=8,
            deadline=DEADLINE,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )


def test_linked_operations_keep_the_contract_for_a_tenant_admin(as_tenant_admin):
    _stateful_run(as_tenant_admin)


def test_linked_operations_keep_the_contract_for_a_tenant_member(as_tenant_member):
    _stateful_run(as_tenant_member)
