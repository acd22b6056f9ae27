"""Hostile input as an outside client sends it, against every operation of the OpenAPI schema: deep
nesting, NUL and lone surrogates, huge numbers, 1 MB strings, wrong types, bad query strings and bad
Authorization headers. No answer is a 5xx and every error is in the `{"error": …}` envelope."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from campaigns.phases import PHASES
from tenants.models import Role

from ..campaigns.factories import generation_config
from ..helpers import client_for, make_tenant, make_user
from ..workflow_runs.factories import fund, make_template, run_in_state

MEGABYTE = "x" * 1_000_000
HOSTILE_VALUES: list[Any] = [
    "a\x00b",
    "\ud800",
    {"k\x00": "v"},
    {"k": ["\x00"]},
    10**90,
    2**63,
    -(2**63) - 1,
    -1,
    1.5,
    MEGABYTE,
    [MEGABYTE],
    {"k": MEGABYTE},
    True,
    None,
    [],
    {},
    [[[[["deep"]]]]],
]
# One field at a time (the rest of a valid body around it): the values that found bugs or could.
PER_FIELD_VALUES: list[Any] = ["a\x00b", "\ud800", {"k\x00": "v"}, 10**90, 2**63, MEGABYTE, {"k": MEGABYTE}, [1], None]
RAW_BODIES: list[bytes] = [
    b"[" * 100_000,
    b'{"a":' * 50_000,
    b"[" * 100_000 + b"]" * 100_000,
    b"\xff\xfe\xfd",
    b'{"name": "\\ud800"}',
    b'{"name": "\\u0000"}',
    b'{"name": 1e999}',
    b'{"name": NaN}',
    b"1" * 10_000,
    b'"just a string"',
    b"[1, 2, 3]",
    b"{",
    b"",
]
QUERY_VALUES = ["10" * 50, str(2**63), "-1", "abc", "a\x00b", MEGABYTE[:10_000]]
QUERY_NAMES = ["limit", "offset", "after", "status"]
BAD_AUTHORIZATION = ["Token \xff\xfe", "Token a\x00b", "Token " + "a" * 100_000, "Token", "Token a b", "\x00"]


def _json(value: Any) -> bytes:
    # ensure_ascii keeps a lone surrogate as the `\ud800` escape a client would send.
    return json.dumps(value, ensure_ascii=True).encode()


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                found.append((path, method, operation))
    return found


def _properties(schema: dict[str, Any], operation: dict[str, Any]) -> tuple[str, list[str]]:
    content = operation.get("requestBody", {}).get("content", {})
    for media_type in ("application/json", "multipart/form-data"):
        body = content.get(media_type, {}).get("schema", {})
        ref = body.get("$ref")
        if ref:
            body = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        if media_type in content:
            return media_type, list(body.get("properties", {}))
    return "application/json", []


@pytest.fixture
def world(tenant, tenant_admin):
    admin = client_for(tenant_admin)
    campaign = admin.post("/api/campaigns", {"name": "c"}, format="json").json()
    dns = admin.post("/api/personas/dns", {"name": "d", "nameservers": ["127.0.0.1"]}, format="json").json()
    http = admin.post("/api/personas/http", {"name": "h"}, format="json").json()
    proxy = admin.post("/api/proxies", {"name": "p", "url": "http://127.0.0.1:3128"}, format="json").json()
    template = make_template(tenant=tenant)
    fund(tenant, purchased=1000)
    run = run_in_state(tenant=tenant, template=template, files=[("failed", 1)])
    scan = admin.post("/api/scans", {"url": "http://site.test/"}, format="json").json()
    return {
        "campaign_id": campaign["id"],
        "object_id": dns["id"],
        "http_persona": http["id"],
        "proxy": proxy["id"],
        "template_id": str(template.pk),
        "run_id": str(run.pk),
        "scan_id": scan["id"],
        "user_id": str(tenant_admin.pk),
        "tenant": str(tenant.pk),
        "tenant_id": str(tenant.pk),
    }


def _paths(path: str, world: dict[str, str]) -> list[str]:
    filled = path
    for name, value in world.items():
        filled = filled.replace("{" + name + "}", value)
    if "{phase}" in filled:
        return [filled.replace("{phase}", phase) for phase in [*PHASES, "nope\x00"]]
    filled = filled.replace("{object_id}", world["object_id"])
    assert "{" not in filled, f"no value for a parameter of {path}"
    return [filled]


def envelope_problem(response: Any, what: str) -> str | None:
    try:
        assert_enveloped(response, what)
    except AssertionError as exc:
        return str(exc).splitlines()[0]
    return None


def assert_enveloped(response: Any, what: str) -> None:
    if what.startswith("get /api/health") and response.status_code == 503:
        return  # health answers 503 by design while no worker runs (this test starts none)
    assert response.status_code < 500, f"{what}: {response.status_code} {response.content[:300]!r}"
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), f"{what}: {response['Content-Type']}"
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str), what
        assert "Traceback" not in response.content.decode(errors="replace"), what


def _send(client: Client, method: str, path: str, *, body: bytes | None = None, media: str = "", **extra: Any) -> Any:
    call = getattr(client, method)
    if body is None:
        return call(path, **extra)
    return call(path, data=body, content_type=media or "application/json", **extra)


def _valid_body(path: str, world: dict[str, str]) -> dict[str, Any]:
    """A body the operation accepts, so that one hostile field at a time reaches cross-field checks
    (`offset_start` against the combination space, for one)."""
    phase_bodies = {
        "domain_generation": generation_config(
            num_domains=10, character_set="abcdefghijklmnopqrstuvwxyz0123456789", variable_length=20
        ),
        "dns_validation": {"personaIds": [world["object_id"]]},
        "http_keyword_validation": {"personaIds": [world["http_persona"]], "keywords": ["a"]},
        "analysis": {"keyword": "a"},
    }
    for phase, body in phase_bodies.items():
        if path.endswith(f"/phases/{phase}/config"):
            return body
    bodies: dict[str, dict[str, Any]] = {
        "/api/auth/login": {"username": "nobody", "password": "wrong"},
        "/api/campaigns": {"name": "c"},
        "/mode": {"mode": "step_by_step"},
        "/api/personas/dns": {"name": "d", "nameservers": ["127.0.0.1"]},
        "/api/personas/http": {"name": "h"},
        "/api/proxies": {"name": "p", "url": "http://127.0.0.1:3128"},
        "/api/workflow-templates": {"name": "t", "creditsPerRun": 1, "processor": "text_stats"},
        "/api/scans": {"url": "http://site.test/"},
        "/api/users": {"username": "u-hostile", "password": "long-enough-pass-1"},
    }
    for suffix, body in bodies.items():
        if path.startswith(suffix) or path.endswith(suffix):
            return body
    return {}


def _bodies_for(path: str, properties: list[str], world: dict[str, str]) -> list[bytes]:
    valid = _valid_body(path, world)
    properties = list(dict.fromkeys([*properties, *valid]))
    bodies = list(RAW_BODIES)
    bodies += [_json(dict.fromkeys(properties or ["name"], value)) for value in HOSTILE_VALUES]
    bodies += [_json({**valid, name: value}) for value in PER_FIELD_VALUES for name in properties]
    return bodies


@pytest.mark.django_db
def test_every_operation_answers_hostile_bodies_and_queries_within_the_envelope(world, tenant_admin):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = _operations()
    assert len(operations) >= 30, "the sweep must see the whole API"
    client = client_for(tenant_admin)
    client.defaults["REMOTE_ADDR"] = "10.11.12.13"  # the sweep's logins fill this address's throttle only
    sent = 0
    problems: list[str | None] = []
    for template_path, method, operation in operations:
        media, properties = _properties(schema, operation)
        for path in _paths(template_path, world):
            if template_path in ("/api/auth/logout",):
                continue  # would revoke the sweep's own token
            if method in {"post", "put", "patch"}:
                if media == "multipart/form-data":
                    for value in ["a\x00b", str(10**90), MEGABYTE, ""]:
                        data = dict.fromkeys(properties, value)
                        response = client.post(path, data=data)
                        problems.append(envelope_problem(response, f"{method} {path} multipart {value[:10]!r}"))
                        if value is MEGABYTE and response.status_code < 300:
                            problems.append(f"{method} {path} accepted a 1 MB multipart field")
                        sent += 1
                for body in _bodies_for(path, properties, world):
                    response = _send(client, method, path, body=body)
                    problems.append(envelope_problem(response, f"{method} {path} {body[:60]!r}"))
                    # An operation without a request body ignores whatever is sent (cancel, start):
                    # only one that reads a body must refuse a 1 MB field.
                    if properties and len(body) >= len(MEGABYTE) and response.status_code < 300:
                        problems.append(f"{method} {path} accepted a 1 MB string: {body[:80]!r}")
                    sent += 1
            else:
                for name in [*QUERY_NAMES, *(p["name"] for p in operation.get("parameters", []))]:
                    for value in QUERY_VALUES:
                        response = getattr(client, method)(path, {name: value})
                        problems.append(envelope_problem(response, f"{method} {path}?{name}={value[:20]!r}"))
                        sent += 1
    found = sorted({problem for problem in problems if problem})
    assert not found, "\n".join(["PROBLEMS:", *found])
    assert sent > 1500


@pytest.mark.django_db
def test_bad_authorization_headers_are_401_everywhere(world):
    anonymous = Client(REMOTE_ADDR="10.11.12.14")
    for template_path, method, _ in _operations():
        for path in _paths(template_path, world)[:1]:
            for header in BAD_AUTHORIZATION:
                response = getattr(anonymous, method)(path, HTTP_AUTHORIZATION=header)
                assert_enveloped(response, f"{method} {path} Authorization={header[:20]!r}")
                if template_path not in ("/api/auth/login", "/api/health", "/api/schema/", "/api/docs/"):
                    assert response.status_code == 401, f"{method} {path} {header[:20]!r}"


@pytest.mark.django_db
def test_the_login_refuses_deep_nesting_without_authentication():
    response = Client(REMOTE_ADDR="10.11.12.15").post(
        "/api/auth/login", data=b"[" * 100_000, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "headers": {"X-A": "a\x00b"}}, "headers"),
        ({"name": "x", "headers": {"X-A": "\ud800"}}, "headers"),
        ({"name": "a\x00b"}, "name"),
    ],
)
def test_text_postgresql_refuses_is_a_field_error(admin_client, body, field):
    response = admin_client.post("/api/personas/http", _json(body), content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ["/api/nope", "/nope", "/api/campaigns/not-a-uuid"])
def test_unknown_urls_are_404_in_the_envelope_even_with_debug_on(settings, debug, path):
    settings.DEBUG = debug
    response = Client().get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_a_json_body_over_the_limit_is_413(settings, admin_client):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = admin_client.post("/api/campaigns", _json({"name": "x" * 2000}), content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert admin_client.post("/api/campaigns", _json({"name": "x"}), content_type="application/json").status_code == 201


@pytest.mark.django_db
def test_json_nested_at_the_limit_parses_and_one_deeper_is_refused(settings, admin_client):
    settings.RELAY_API_MAX_JSON_DEPTH = 5
    at_limit = {"name": "x", "headers": {"a": "b"}, "extra": [[[["d"]]]]}  # depth 5 (the outer object counts)
    assert admin_client.post("/api/personas/http", _json(at_limit), content_type="application/json").status_code == 201
    deeper = {"name": "x", "extra": [[[[["d"]]]]]}
    response = admin_client.post("/api/personas/http", _json(deeper), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.django_db
def test_a_brackets_inside_strings_do_not_count_as_nesting(settings, admin_client):
    settings.RELAY_API_MAX_JSON_DEPTH = 2
    body = {"name": '[[[[{{{{ \\" [[['}
    assert admin_client.post("/api/personas/http", _json(body), content_type="application/json").status_code == 201


def test_a_wrong_type_platform_admin_sweep_is_enveloped_too(db):
    platform = client_for(make_user(tenant=None, role=Role.PLATFORM_ADMIN))
    make_tenant()
    for path in ("/api/tenants", "/api/credits/grant", "/api/users", "/api/campaigns/settings"):
        for value in HOSTILE_VALUES:
            for method in ("post", "patch"):
                response = getattr(platform, method)(
                    path,
                    _json(
                        {
                            "name": value,
                            "slug": value,
                            "tenant": value,
                            "amount": value,
                            "auto_resume_on_restart": value,
                            "username": value,
                            "password": value,
                        }
                    ),
                    content_type="application/json",
                )
                assert_enveloped(response, f"{method} {path} {str(value)[:20]!r}")


def test_unknown_object_ids_are_404(admin_client):
    for path in ("/api/campaigns/", "/api/scans/", "/api/workflow-runs/", "/api/personas/dns/"):
        response = admin_client.get(f"{path}{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
