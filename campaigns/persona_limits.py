"""Bounds on every number and list a tenant sets on a persona: one persona must not be able to hold a
worker (timeouts, retries and redirects), exhaust its memory (body size times concurrency) or flood a resolver
or site (concurrency, rate). The API answers 400 on the field past a bound."""

from __future__ import annotations

DNS = {
    "timeout_seconds": (0.1, 10.0),
    "retries": (0, 5),
    "concurrency": (1, 500),
    "rate_limit_per_second": (0, 1000),  # 0: no per-persona limit
}
DNS_MAX_NAMESERVERS = 10
DNS_MAX_QUERY_TYPES = 6

HTTP = {
    "timeout_seconds": (0.1, 30.0),
    "max_redirects": (0, 10),
    "max_body_bytes": (1024, 1_048_576),
    "concurrency": (1, 200),
    "rate_limit_per_second": (0, 1000),  # 0: no per-persona limit
    "port": (1, 65535),
}
HTTP_MAX_HEADERS = 30
HTTP_MAX_HEADER_NAME = 100
HTTP_MAX_HEADER_VALUE = 2000


def bounds_kwargs(bounds: dict[str, tuple[float, float]]) -> dict[str, dict[str, float]]:
    """`extra_kwargs` for a ModelSerializer: min_value/max_value per field."""
    return {name: {"min_value": low, "max_value": high} for name, (low, high) in bounds.items()}
