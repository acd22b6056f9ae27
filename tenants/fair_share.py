"""Tenants are the engine's fairness groups: each tenant's jobs share the workers with the others',
and a platform admin may cap how many of them run at once (across all workers)."""

from __future__ import annotations

import logging
import uuid

from orchestration import fairness

from .models import Tenant, User

logger = logging.getLogger(__name__)


def tenant_fairness_key(tenant_id: uuid.UUID | str) -> str:
    """The fairness key a domain gives the engine for a tenant's stages."""
    return f"tenant:{tenant_id}"


def tenant_max_running(tenant: Tenant) -> dict[str, object]:
    cap = fairness.max_running_of(tenant_fairness_key(tenant.pk))
    return {"maxRunningJobs": cap, "default": fairness.default_max_running()}


def tenant_max_running_set(*, tenant: Tenant, max_running: int | None, actor: User) -> dict[str, object]:
    """Set (None: reset to the default) the tenant's cap on running jobs."""
    fairness.max_running_set(group_key=tenant_fairness_key(tenant.pk), max_running=max_running)
    logger.info("tenants.max_running_set tenant=%s max_running=%s actor=%s", tenant.pk, max_running, actor.pk)
    return tenant_max_running(tenant)
