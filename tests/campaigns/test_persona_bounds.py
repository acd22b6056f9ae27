"""Every number a tenant sets on a persona is bounded: the bound itself is accepted, one step past it is
a 400 on that field; lists and headers are bounded too."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns import persona_limits as limits
from campaigns.phase_configs import MAX_DOMAINS, MAX_OFFSET_START

from .factories import generation_config

BASE: dict[str, dict[str, Any]] = {"dns": {"name": "d", "nameservers": ["127.0.0.1"]}, "http": {"name": "h"}}
STEP = {float: 0.05, int: 1}


def _cases(kind: str, bounds: dict[str, tuple[float, float]]) -> list[tuple[str, str, float, bool]]:
    cases = []
    for field, (low, high) in bounds.items():
        step = STEP[type(low)]
        cases += [(kind, field, low, True), (kind, field, high, True)]
        cases += [(kind, field, low - step, False), (kind, field, high + step, False)]
    return cases


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "field", "value", "accepted"), _cases("dns", limits.DNS) + _cases("http", limits.HTTP)
)
def test_persona_numbers_are_bounded(admin_client, kind, field, value, accepted):
    response = admin_client.post(f"/api/personas/{kind}", {**BASE[kind], field: value}, format="json")
    if accepted:
        assert response.status_code == 201, response.json()
        assert response.json()[field] == value
    else:
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == [field]


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value"), [("retries", 32767), ("concurrency", 2000), ("timeout_seconds", 60)])
def test_the_old_unbounded_values_are_refused_on_update_too(admin_client, field, value):
    created = admin_client.post("/api/personas/dns", BASE["dns"], format="json").json()
    response = admin_client.patch(f"/api/personas/dns/{created['id']}", {field: value}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_nameserver_count_is_bounded(admin_client):
    servers = [f"127.0.0.{i}" for i in range(1, limits.DNS_MAX_NAMESERVERS + 2)]
    at_limit = {**BASE["dns"], "nameservers": servers[:-1]}
    assert admin_client.post("/api/personas/dns", at_limit, format="json").status_code == 201
    response = admin_client.post("/api/personas/dns", {**BASE["dns"], "nameservers": servers}, format="json")
    assert response.status_code == 400
    assert "nameservers" in response.json()["error"]["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "accepted"),
    [
        ({f"X-H{i}": "v" for i in range(limits.HTTP_MAX_HEADERS)}, True),
        ({f"X-H{i}": "v" for i in range(limits.HTTP_MAX_HEADERS + 1)}, False),
        ({"X-A": "v" * limits.HTTP_MAX_HEADER_VALUE}, True),
        ({"X-A": "v" * (limits.HTTP_MAX_HEADER_VALUE + 1)}, False),
        ({"X" * limits.HTTP_MAX_HEADER_NAME: "v"}, True),
        ({"X" * (limits.HTTP_MAX_HEADER_NAME + 1): "v"}, False),
        ({"X-A": "v\r\nInjected: yes"}, False),
        ({"Bad Name": "v"}, False),
        ({"X-A": 1}, False),
    ],
)
def test_persona_headers_are_bounded_and_cannot_inject(admin_client, headers, accepted):
    response = admin_client.post("/api/personas/http", {"name": "h", "headers": headers}, format="json")
    assert response.status_code == (201 if accepted else 400)
    if not accepted:
        assert list(response.json()["error"]["fields"]) == ["headers"]


def _generation_put(client, campaign_id, **overrides):
    # 36 characters over 20 positions: a space far beyond 2^63, so only the column bound applies.
    config = generation_config(character_set="abcdefghijklmnopqrstuvwxyz0123456789", variable_length=20)
    config.update({"num_domains": 10, **overrides})
    return client.put(f"/api/campaigns/{campaign_id}/phases/domain_generation/config", config, format="json")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("offset_start", "accepted"),
    [(MAX_OFFSET_START, True), (MAX_OFFSET_START + 1, False), (2**63, False), (10**90, False), (-1, False)],
)
def test_offset_start_fits_the_bigint_column(admin_client, offset_start, accepted):
    campaign = admin_client.post("/api/campaigns", {"name": "c"}, format="json").json()
    response = _generation_put(admin_client, campaign["id"], offset_start=offset_start)
    assert response.status_code == (200 if accepted else 400), response.json()
    if not accepted:
        assert "offset_start" in response.json()["error"]["fields"]
    assert MAX_OFFSET_START + MAX_DOMAINS <= 2**63 - 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("num_domains", 0, False),
        ("num_domains", 1, True),
        ("num_domains", MAX_DOMAINS, True),
        ("num_domains", MAX_DOMAINS + 1, False),
        ("batch_size", 1, True),
        ("batch_size", 50_000, True),
        ("batch_size", 50_001, False),
        ("batch_size", 0, False),
    ],
)
def test_generation_sizes_are_bounded(admin_client, field, value, accepted):
    campaign = admin_client.post("/api/campaigns", {"name": "c"}, format="json").json()
    response = _generation_put(admin_client, campaign["id"], **{field: value})
    assert response.status_code == (200 if accepted else 400), response.json()
    if not accepted:
        assert field in response.json()["error"]["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize(("after", "status"), [(2**31 - 1, 200), (2**31, 400), (10**30, 400), (-2, 400)])
def test_the_domain_page_cursor_is_bounded(admin_client, after, status):
    campaign = admin_client.post("/api/campaigns", {"name": "c"}, format="json").json()
    response = admin_client.get(f"/api/campaigns/{campaign['id']}/domains", {"after": after})
    assert response.status_code == status
