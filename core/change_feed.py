"""The names of the change feeds (`orchestration/feeds.py`) of tenant-owned objects: each tenant has
one, and platform admins follow one that every tenant's changes ring too (their lists show every
tenant). A domain rings `tenant_feeds(tenant_id)` when one of its objects is created or changes status."""

from __future__ import annotations

from typing import Any

PLATFORM_FEED = "feed:platform"


def tenant_feed(tenant_id: Any) -> str:
    return f"feed:tenant:{tenant_id}"


def tenant_feeds(tenant_id: Any) -> tuple[str, ...]:
    """The feeds a change of one of the tenant's objects rings: the tenant's and the platform's."""
    return (tenant_feed(tenant_id), PLATFORM_FEED)
