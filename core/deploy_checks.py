"""Refuse to run in production with an unsafe configuration: with DEBUG off, Django's system check
errors on the development secret key (or an empty, short or `django-insecure-` one), on
`ALLOWED_HOSTS = ['*']`, and on an egress allow-list that lets every address through. `manage.py`
commands stop on these errors, and so does the web process (`config/asgi.py` runs `refuse_unsafe_start`).
The devstack and the tests set their own key.

`manage.py check --deploy` (a deployment's release step, with `--fail-level WARNING`) adds what only
a production configuration must not have: the tests' fast password hasher (`relay.E005`, refused
there only: the tests and benchmarks run with DEBUG off and that hasher), metrics open to anyone
(`relay.W001`) and public API docs (`relay.W002`) while DEBUG is off."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_UNIQUE = 5
_EVERYTHING = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def _secret_key_problem() -> str | None:
    try:
        key = str(settings.SECRET_KEY or "")
    except ImproperlyConfigured:  # Django refuses to hand out an empty key
        key = ""
    if not key:
        return "SECRET_KEY is empty"
    if key == getattr(settings, "DEV_SECRET_KEY", None):
        return "SECRET_KEY is the development default"
    if key.startswith("django-insecure-"):
        return "SECRET_KEY is one Django generated for development (django-insecure-…)"
    if len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < MIN_SECRET_KEY_UNIQUE:
        return f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters or has fewer than 5 distinct ones"
    return None


@checks.register(checks.Tags.security)
def unsafe_production_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DEBUG:
        return []
    errors: list[checks.CheckMessage] = []
    problem = _secret_key_problem()
    if problem:
        errors.append(
            checks.Error(
                f"{problem} while DEBUG is off.",
                hint='Set DJANGO_SECRET_KEY to a long random value (for example `python -c "import secrets; '
                'print(secrets.token_urlsafe(50))"`), or DJANGO_DEBUG=1 for development.',
                id="relay.E001",
            )
        )
    if "*" in settings.ALLOWED_HOSTS:
        errors.append(
            checks.Error(
                "ALLOWED_HOSTS allows every host while DEBUG is off.",
                hint="Set DJANGO_ALLOWED_HOSTS to the names the site is served under.",
                id="relay.E002",
            )
        )
    from . import egress  # at check time: importing it from AppConfig.ready is not needed

    try:
        allow = egress.current_policy().allow
    except ValueError as exc:
        errors.append(checks.Error(f"RELAY_EGRESS_ALLOW/DENY cannot be read: {exc}", id="relay.E003"))
    else:
        if any(network in _EVERYTHING for network, _ in allow):
            errors.append(
                checks.Error(
                    "RELAY_EGRESS_ALLOW allows every address: the egress policy is off while DEBUG is off.",
                    hint="Name the internal ranges (CIDR or CIDR:port) tenants may reach, nothing wider.",
                    id="relay.E004",
                )
            )
    return errors


def refuse_unsafe_start() -> None:
    """For process entry points that do not run the system checks themselves (the ASGI application)."""
    errors = [message for message in unsafe_production_settings() if message.is_serious()]
    if errors:
        raise ImproperlyConfigured("; ".join(f"{message.id}: {message.msg}" for message in errors))


@checks.register(checks.Tags.security)
def operator_endpoint_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Settings of `/metrics` and the docs that cannot be read: an error in every mode."""
    from .operator_access import DOCS_MODES, metrics_networks

    errors: list[checks.CheckMessage] = []
    try:
        metrics_networks()
    except ValueError as exc:
        errors.append(checks.Error(f"RELAY_METRICS_ALLOW_CIDRS cannot be read: {exc}", id="relay.E006"))
    if settings.RELAY_API_DOCS not in DOCS_MODES:
        errors.append(
            checks.Error(
                f"RELAY_API_DOCS is {settings.RELAY_API_DOCS!r}.",
                hint=f"One of {', '.join(DOCS_MODES)}.",
                id="relay.E007",
            )
        )
    return errors


@checks.register(checks.Tags.security, deploy=True)
def production_only_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DEBUG:
        return []
    messages: list[checks.CheckMessage] = []
    hashers = list(getattr(settings, "PASSWORD_HASHERS", []))
    if any(hasher.endswith("MD5PasswordHasher") for hasher in hashers):
        messages.append(
            checks.Error(
                "RELAY_INSECURE_FAST_PASSWORD_HASHING is on while DEBUG is off: passwords would be stored as MD5.",
                hint="Unset it: it is for the test suite and benchmarks only.",
                id="relay.E005",
            )
        )
    if settings.RELAY_METRICS_PUBLIC:
        messages.append(
            checks.Warning(
                "RELAY_METRICS_PUBLIC is on while DEBUG is off: anyone who reaches the site reads /metrics.",
                hint="Set RELAY_METRICS_TOKEN (the scraper's bearer token) or RELAY_METRICS_ALLOW_CIDRS instead.",
                id="relay.W001",
            )
        )
    if settings.RELAY_API_DOCS == "public":
        messages.append(
            checks.Warning(
                "RELAY_API_DOCS is public while DEBUG is off.",
                hint="`authenticated` (the default with DEBUG off) or `off`.",
                id="relay.W002",
            )
        )
    return messages
