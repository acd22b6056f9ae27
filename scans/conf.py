"""Scan settings: `settings.RELAY_SCANS` when the project defines it, else the environment."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from config.env import env_float, env_int, env_str

from .checks.registry import CheckSettings


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, "RELAY_SCANS", {}).get(name, default)


def check_settings() -> CheckSettings:
    return CheckSettings(
        fetch_timeout=float(_setting("FETCH_TIMEOUT_SECONDS", env_float("RELAY_SCANS_FETCH_TIMEOUT_SECONDS", 10.0))),
        max_page_bytes=int(_setting("MAX_PAGE_BYTES", env_int("RELAY_SCANS_MAX_PAGE_BYTES", 2_000_000))),
        link_concurrency=int(_setting("LINK_CONCURRENCY", env_int("RELAY_SCANS_LINK_CONCURRENCY", 8))),
        max_links=int(_setting("MAX_LINKS", env_int("RELAY_SCANS_MAX_LINKS", 100))),
        link_timeout=float(_setting("LINK_TIMEOUT_SECONDS", env_float("RELAY_SCANS_LINK_TIMEOUT_SECONDS", 5.0))),
        providers={
            "rank_tracker": str(_setting("RANK_TRACKER_URL", env_str("RELAY_SCANS_RANK_TRACKER_URL", ""))),
            "backlinks": str(_setting("BACKLINKS_URL", env_str("RELAY_SCANS_BACKLINKS_URL", ""))),
        },
        provider_token=str(_setting("PROVIDER_TOKEN", env_str("RELAY_SCANS_PROVIDER_TOKEN", ""))),
        provider_timeout=float(
            _setting("PROVIDER_TIMEOUT_SECONDS", env_float("RELAY_SCANS_PROVIDER_TIMEOUT_SECONDS", 15.0))
        ),
    )


# The services a scan runs when the request names none: the ones that need no outside account.
DEFAULT_SERVICES = ["accessibility", "schema", "meta", "links", "security_headers"]
MAX_ATTEMPTS_LIMIT = 5
