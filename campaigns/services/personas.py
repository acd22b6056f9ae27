"""Personas (DNS, HTTP) and proxies: tenant-owned, plain create / update / delete."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models

from core.exceptions import Conflict
from tenants.models import Tenant

from ..models import PhaseConfig

M = TypeVar("M", bound=models.Model)


def owned_create(*, model: type[M], tenant: Tenant, data: dict[str, Any]) -> M:
    return model._default_manager.create(tenant=tenant, **data)


def owned_update(*, instance: M, data: dict[str, Any]) -> M:
    for name, value in data.items():
        setattr(instance, name, value)
    instance.save()
    return instance


def owned_delete(*, instance: models.Model, config_key: str) -> None:
    """Refuse to delete a persona or proxy a phase config still names (409 with the campaigns)."""
    pk = str(instance.pk)
    users: set[str] = set()
    tenant_id = instance.tenant_id  # type: ignore[attr-defined]
    for campaign_id, config in PhaseConfig.objects.filter(campaign__tenant_id=tenant_id).values_list(
        "campaign_id", "config"
    ):
        named = config.get(config_key)
        if pk in (named if isinstance(named, list) else [named]):
            users.add(str(campaign_id))
    if users:
        raise Conflict(
            "Phase configs still use this object; change them first.",
            code="in_use",
            extra={"campaigns": sorted(users)},
        )
    instance.delete()
