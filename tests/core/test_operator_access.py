"""`/metrics`, `/api/schema/` and `/api/docs/`: open in development, restricted in production (a bearer
token or an allow-listed address for the metrics, a signed-in user or nothing for the docs), every
refusal in the error envelope. The defaults are read from a real process started with DEBUG on and off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from ..helpers import client_for

ROOT = Path(__file__).resolve().parent.parent.parent
TOKEN = "metrics-token-9f3Kq2LxV7pW"
PROMETHEUS = "text/plain; version=0.0.4"


@pytest.fixture
def production(settings):
    """What a production process has: DEBUG off, nothing public, no token, no address allowed."""
    settings.DEBUG = False
    settings.RELAY_METRICS_PUBLIC = False
    settings.RELAY_METRICS_TOKEN = ""
    settings.RELAY_METRICS_ALLOW_CIDRS = ""
    settings.RELAY_API_DOCS = "authenticated"
    return settings


def scrape(*, address: str = "192.0.2.10", **headers: str):
    return Client(REMOTE_ADDR=address).get("/metrics", headers=headers)


def assert_refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:300]
    assert response.json()["error"]["code"] == code


@pytest.mark.django_db
def test_metrics_with_a_token_configured_take_exactly_that_bearer_token(production):
    production.RELAY_METRICS_TOKEN = TOKEN

    missing = scrape()
    assert_refused(missing, 401, "not_authenticated")
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert_refused(scrape(Authorization=f"Bearer {TOKEN}x"), 401, "not_authenticated")
    assert_refused(scrape(Authorization=f"Basic {TOKEN}"), 401, "not_authenticated")
    assert_refused(scrape(Authorization="Bearer "), 401, "not_authenticated")
    allowed = scrape(Authorization=f"Bearer {TOKEN}")
    assert allowed.status_code == 200
    assert allowed["Content-Type"].startswith(PROMETHEUS)
    assert "relay_metrics_source_up" in allowed.content.decode()


@pytest.mark.django_db
def test_metrics_are_open_to_allow_listed_addresses_only(production):
    production.RELAY_METRICS_ALLOW_CIDRS = "10.0.0.0/8, 2001:db8::/32"

    assert scrape(address="10.1.2.3").status_code == 200
    assert scrape(address="2001:db8::7").status_code == 200
    assert scrape(address="::ffff:10.1.2.3").status_code == 200  # v4-mapped: judged as the IPv4 address
    # No token configured: nobody else can authenticate, so the answer is a 403.
    assert_refused(scrape(address="192.0.2.10"), 403, "permission_denied")
    assert_refused(scrape(address="127.0.0.1"), 403, "permission_denied")
    # The peer is what counts: a forwarded-for header names nothing the process can check.
    assert_refused(scrape(address="192.0.2.10", **{"X-Forwarded-For": "10.1.2.3"}), 403, "permission_denied")


@pytest.mark.django_db
def test_public_metrics_answer_anyone(production):
    production.RELAY_METRICS_PUBLIC = True
    assert scrape(address="198.51.100.1").status_code == 200


@pytest.mark.django_db
def test_the_schema_and_docs_take_a_signed_in_user_in_production(production, tenant_member):
    for path in ("/api/schema/", "/api/docs/"):
        anonymous = Client().get(path)
        assert_refused(anonymous, 401, "not_authenticated")
        assert client_for(tenant_member).get(path).status_code == 200
        browser = Client()
        browser.force_login(tenant_member)  # a console or admin session: Swagger UI reads the schema with it
        assert browser.get(path).status_code == 200
    assert "openapi" in client_for(tenant_member).get("/api/schema/", {"format": "json"}).json()


@pytest.mark.django_db
def test_docs_switched_off_are_not_found_for_anyone(production, platform_admin):
    production.RELAY_API_DOCS = "off"
    for path in ("/api/schema/", "/api/docs/"):
        assert_refused(Client().get(path), 404, "not_found")
        assert_refused(client_for(platform_admin).get(path), 404, "not_found")


PROBE = """
import json, os
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.test import Client
client = Client(REMOTE_ADDR="192.0.2.10")
print(json.dumps({path: client.get(path).status_code for path in ("/metrics", "/api/schema/", "/api/docs/")}))
"""


def served_by_a_process(debug: str) -> dict[str, int]:
    """Status codes an anonymous client far away gets from a process started with only DJANGO_DEBUG
    set (none of the test stack's operator-endpoint settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_METRICS_", "RELAY_API_DOCS"))}
    env.update(DJANGO_DEBUG=debug, RELAY_DATABASE_NAME=str(connection.settings_dict["NAME"]))
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.django_db
def test_by_default_the_operator_endpoints_are_open_in_development_and_restricted_in_production():
    assert served_by_a_process("1") == {"/metrics": 200, "/api/schema/": 200, "/api/docs/": 200}
    assert served_by_a_process("0") == {"/metrics": 403, "/api/schema/": 401, "/api/docs/": 401}
