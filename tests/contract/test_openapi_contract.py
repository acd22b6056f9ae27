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
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tenants.models import Role, Tenant

from ..helpers import make_tenant, make_user

MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "15"))
STATEFUL_EXAMPLES = int(os.environ.get("CONTRACT_STATEFUL_EXAMPLES", "15"))
# Generous: a step is a few ms, but both cores may be busy; it only stops a request that hangs.
DEADLINE = timedelta(seconds=10)

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
# The API refuses NUL in any string of a body (PostgreSQL cannot store it; the schema says so).
schema.config.generation.update(allow_x00=False)

CONTRACT_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=DEADLINE,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@schema.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    """Werkzeug's test client (schemathesis' WSGI transport) leaves a 0-byte file part out of the body
    it encodes, so the API would see fewer files than were generated; give such a file one byte. (Over
    HTTP the API takes 0-byte files: `FileField(allow_empty_file=True)`.)"""
    if isinstance(body, dict) and isinstance(body.get("files"), list):
        return {**body, "files": [content or b"0" for content in body["files"]]}
    return body


# The token of the test that runs; schemathesis' auth provider reads it, so schemathesis knows which
# header authenticates (it also sends each operation without it and with a bad one: 401 expected).
_current_token: dict[str, str] = {}


@schema.auth(refresh_interval=None)
class RelayToken:
    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        return _current_token.get("token", "")  # collection builds cases before any test signs in

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = f"Token {data}"


# Schema-valid input the API may still refuse with a 400 on the field, because whether it is good
# depends on the world, not on its shape: where a URL or a nameserver resolves to (the egress policy),
# whether a named object exists, whether a username is taken or a password passes Django's validators.
ANY_FIELD = {"*"}
WORLD_STATE_FIELDS: dict[str, set[str]] = {
    "POST /api/scans": {"url"},
    "POST /api/proxies": {"url"},
    "PATCH /api/proxies/{object_id}": {"url"},
    "POST /api/personas/dns": {"nameservers"},
    "PATCH /api/personas/dns/{object_id}": {"nameservers"},
    "POST /api/workflow-runs": {"template"},
    # A template's processor config is checked by its processor (a webhook's URL by the egress policy).
    "POST /api/workflow-templates": {"processorConfig"},
    "PATCH /api/workflow-templates/{template_id}": {"processorConfig"},
    "POST /api/users": {"username", "password"},
    # The body is the config of the phase in the path (documented as one of the four shapes), and names
    # personas that must exist: a generation config sent to the DNS phase is refused on its fields.
    "PUT /api/campaigns/{campaign_id}/phases/{phase}/config": ANY_FIELD,
}
# …or a business code: wrong credentials (schemathesis itself allows this for OAuth token URLs), or
# the object's state (a retry of a scan or run with nothing to retry; documented 400s with a code).
ANY_BUSINESS_CODE = {"*"}
WORLD_STATE_CODES: dict[str, set[str]] = {
    "POST /api/auth/login": {"invalid_credentials"},
    "POST /api/scans/{scan_id}/retry": ANY_BUSINESS_CODE,
    "POST /api/workflow-runs/{run_id}/retry-failed": ANY_BUSINESS_CODE,
}


def _refused_for_the_world(case: schemathesis.Case, response: schemathesis.Response) -> bool:
    error = (response.json() or {}).get("error", {})
    if response.status_code == 422:
        # Generated keys repeat across examples: a key already used with another body (documented 422).
        return error.get("code") == "idempotency_key_reused"
    if response.status_code != 400:
        return False
    label = case.operation.label
    codes = WORLD_STATE_CODES.get(label, set())
    if error.get("code") in codes or (codes == ANY_BUSINESS_CODE and error.get("code") != "invalid"):
        return True
    fields = set(error.get("fields") or {})
    allowed = WORLD_STATE_FIELDS.get(label, set())
    return error.get("code") == "invalid" and bool(fields) and (allowed == ANY_FIELD or fields <= allowed)


def positive_data_accepted_unless_the_world_refuses(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """schemathesis' `positive_data_acceptance`, except for the refusals listed above."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if _refused_for_the_world(case, response):
            return None
        raise


CHECKS = {
    "excluded_checks": [positive_data_acceptance],
    "additional_checks": [positive_data_accepted_unless_the_world_refuses],
}


@pytest.fixture
def served_app(db: None, control_plane: Any) -> Iterator[None]:
    """Requests reach the app in this thread, inside the test's transaction: keep Django from closing
    the test's connection at the end of each request (as Django's own test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    _current_token.clear()


def sign_in(*, tenant: Tenant, role: str) -> None:
    _, _current_token["token"] = AuthToken.objects.create(make_user(tenant=tenant, role=role))


@pytest.fixture
def as_tenant_admin(served_app: None) -> None:
    sign_in(tenant=make_tenant(), role=Role.TENANT_ADMIN)


@pytest.fixture
def as_tenant_member(served_app: None) -> None:
    sign_in(tenant=make_tenant(), role=Role.TENANT_MEMBER)


@schema.parametrize()
@CONTRACT_SETTINGS
def test_every_operation_keeps_the_contract_for_a_tenant_admin(case: schemathesis.Case, as_tenant_admin):
    case.call_and_validate(**CHECKS)


@schema.parametrize()
@CONTRACT_SETTINGS
def test_every_operation_keeps_the_contract_for_a_tenant_member(case: schemathesis.Case, as_tenant_member):
    case.call_and_validate(**CHECKS)


class LinkedOperations(schema.as_state_machine()):  # type: ignore[misc]
    def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
        case.validate_response(response, transport_kwargs=kwargs or None, recorder=self.recorder, **CHECKS)


def _stateful_run() -> None:
    LinkedOperations.run(
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
    _stateful_run()


def test_linked_operations_keep_the_contract_for_a_tenant_member(as_tenant_member):
    _stateful_run()
