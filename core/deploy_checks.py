"""Refuse to run in production with an unsafe configuration: with DEBUG off, Django's system check
errors on the development secret key (or an empty, short or `django-insecure-` one), on
`ALLOWED_HOSTS = ['*']`, and on an egress allow-list that lets every address through. `manage.py`
commands stop on these errors, and so does the web process (`config/asgi.py` runs `refuse_unsafe_start`).
The devstack and the tests set their own key."""

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
