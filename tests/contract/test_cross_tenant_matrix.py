"""The cross-tenant matrix, generated from the URL conf: every API route with an object in its path,
with every method its view answers, called with another tenant's ids answers 404 in the error
envelope (as a tenant admin and as a member); every list shows no row of the other tenant.

Generated, so a new route is covered without a line here: a route whose path names a parameter with
no factory below fails until one is added (`OBJECT_FACTORIES`, one per parameter name)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from campaigns.api.personas import _OwnedDetailApi
from campaigns.phases import PHASES
from tenants.models import Role, Tenant
from workflow_runs.models import FileStatus

from ..helpers import client_for, make_tenant, make_user
from ..workflow_runs.factories import fund, make_template, run_in_state

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def api_routes() -> Iterator[tuple[str, Any]]:
    """(route, view) for every API URL: `campaigns/<uuid:campaign_id>/cancel` and its callback."""

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> Iterator[tuple[str, Any]]:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif route.startswith("api/"):
                yield route, pattern.callback

    yield from walk(get_resolver().url_patterns, "")


def methods_of(view: Any) -> list[str]:
    view_class = getattr(view, "view_class", None)
    if view_class is None:
        return ["get"]  # a plain Django view: the SSE streams
    return [method for method in METHODS if hasattr(view_class, method)]


def object_routes() -> list[tuple[str, str, Any]]:
    return [
        (method, route, view) for route, view in api_routes() if PARAMETER.search(route) for method in methods_of(view)
    ]


def list_routes() -> list[str]:
    """Routes without an object in the path that answer GET: every one is read for foreign rows."""
    return [route for route, view in api_routes() if not PARAMETER.search(route) and "get" in methods_of(view)]


# --- one way to make each kind of object, for the other tenant --------------------------------------


class World:
    """The other tenant and one of each of its objects (made through its admin, as a user would)."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.admin = make_user(tenant=tenant, role=Role.TENANT_ADMIN)
        self.client = client_for(self.admin)
        # What would give a foreign row away: object ids are UUIDs; users show their username.
        self.ids: list[str] = [str(tenant.pk), self.admin.username]
        self._made: dict[str, str] = {}

    def made(self, key: str, make: Callable[[], str]) -> str:
        if key not in self._made:
            self._made[key] = make()
            if key != "phase":
                self.ids.append(self._made[key])
        return self._made[key]

    def created(self, path: str, body: dict[str, Any]) -> str:
        response = self.client.post(path, body, format="json")
        assert response.status_code == 201, f"{path}: {response.status_code} {response.content[:300]!r}"
        return str(response.json()["id"])


def _campaign(world: World, view: Any) -> str:
    return world.made("campaign", lambda: world.created("/api/campaigns", {"name": "foreign campaign"}))


def _owned(world: World, view: Any) -> str:
    """Personas and proxies: the detail view names its model."""
    model = view.view_class.model
    assert issubclass(view.view_class, _OwnedDetailApi)
    bodies = {
        "DnsPersona": ("/api/personas/dns", {"name": "foreign dns", "nameservers": ["127.0.0.1"]}),
        "HttpPersona": ("/api/personas/http", {"name": "foreign http"}),
        "Proxy": ("/api/proxies", {"name": "foreign proxy", "url": "http://127.0.0.1:3128"}),
    }
    path, body = bodies[model.__name__]
    return world.made(model.__name__, lambda: world.created(path, body))


def _template(world: World, view: Any) -> str:
    return world.made("template", lambda: str(make_template(tenant=world.tenant, name="foreign template").pk))


def _run(world: World, view: Any) -> str:
    def make() -> str:
        template = make_template(tenant=world.tenant, name="foreign run template")
        fund(world.tenant, purchased=100)
        return str(run_in_state(tenant=world.tenant, template=template, files=[(FileStatus.FAILED, 1)]).pk)

    return world.made("run", make)


def _scan(world: World, view: Any) -> str:
    return world.made("scan", lambda: world.created("/api/scans", {"url": "http://site.test/"}))


def _user(world: World, view: Any) -> str:
    return str(world.admin.pk)


def _tenant(world: World, view: Any) -> str:
    return str(world.tenant.pk)


def _phase(world: World, view: Any) -> str:
    return PHASES[0]  # not an object: any valid phase


OBJECT_FACTORIES: dict[str, Callable[[World, Any], str]] = {
    "campaign_id": _campaign,
    "object_id": _owned,
    "template_id": _template,
    "run_id": _run,
    "scan_id": _scan,
    "user_id": _user,
    "tenant_id": _tenant,
    "phase": _phase,
}


def filled(route: str, view: Any, world: World) -> str:
    def value(match: re.Match[str]) -> str:
        name = match["name"]
        factory = OBJECT_FACTORIES.get(name)
        assert factory is not None, f"/{route}: no factory for <{name}> in OBJECT_FACTORIES; add one"
        return factory(world, view)

    return "/" + PARAMETER.sub(value, route)


def send(client: APIClient, method: str, path: str) -> Any:
    if method in ("post", "put", "patch"):
        return getattr(client, method)(path, {}, format="json")
    return getattr(client, method)(path)


def assert_not_found(response: Any, what: str) -> None:
    assert response.status_code == 404, f"{what}: {response.status_code} {response.content[:300]!r}"
    assert response["Content-Type"].startswith("application/json"), f"{what}: {response['Content-Type']}"
    assert response.json()["error"]["code"] == "not_found", f"{what}: {response.content[:300]!r}"


@pytest.fixture
def foreign() -> World:
    return World(make_tenant())


@pytest.fixture
def home() -> World:
    return World(make_tenant())


ROLES = [Role.TENANT_ADMIN, Role.TENANT_MEMBER]


def test_the_matrix_covers_every_object_route():
    routes = {route for _, route, _ in object_routes()}
    assert len(routes) >= 20, routes  # the URL conf was walked (campaigns, runs, scans, personas, …)
    for route in routes:
        for match in PARAMETER.finditer(route):
            assert match["name"] in OBJECT_FACTORIES, f"/{route}: no factory for <{match['name']}>"


def _committed_for_streams(routes: list[tuple[str, str, Any]]) -> list[Any]:
    """An event stream authenticates and looks its object up on a thread of its own, with its own
    database connection (it gives it back before streaming), so its cases need committed rows."""
    return [
        pytest.param(*case, marks=pytest.mark.django_db(transaction=True)) if case[1].endswith("/events") else case
        for case in routes
    ]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "route", "view"), _committed_for_streams(object_routes()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_another_tenants_object_answers_404(role, method, route, view, home, foreign):
    """Every method of every object route, with the other tenant's ids: 404 in the envelope. Where the
    caller's role may not use the route at all (its own object is a 403 as well), the same 403."""
    caller = make_user(tenant=home.tenant, role=role)
    client = client_for(caller)
    what = f"{role} {method.upper()} /{route}"

    response = send(client, method, filled(route, view, foreign))
    if response.status_code == 403:
        own = send(client, method, filled(route, view, home))
        assert own.status_code == 403, f"{what}: 403 on a foreign object but {own.status_code} on its own"
        assert response.json() == own.json(), what
        return
    assert_not_found(response, what)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", list_routes())
def test_no_list_shows_another_tenants_rows(role, route, home, foreign):
    """Every list (every GET without an object in its path), after the other tenant made one of each
    kind of object: no id of theirs (nor their tenant's) appears anywhere in the answer."""
    for _method, object_route, view in object_routes():
        filled(object_route, view, foreign)
    client = client_for(make_user(tenant=home.tenant, role=role))

    response = client.get(f"/{route}")
    # /api/health is a 503 here: no worker runs in this test.
    assert response.status_code in (200, 403) or route == "api/health", f"{role} GET /{route}: {response.status_code}"
    text = response.content.decode() if not response.streaming else b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    leaked = [value for value in foreign.ids if value in _strings(text)]
    assert not leaked, f"{role} GET /{route} shows the other tenant's {leaked}"


def _strings(text: str) -> set[str]:
    """Every string and number of a JSON answer (or every cell of a CSV one)."""
    try:
        data = json.loads(text)
    except ValueError:
        return {cell for line in text.splitlines() for cell in line.split(",")}
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif value is not None:
            found.add(str(value))

    walk(data)
    return found
