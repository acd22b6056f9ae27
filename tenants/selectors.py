"""Tenant scoping: every query on tenant-owned data goes through these."""

from typing import TypeVar
from uuid import UUID

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404

from core.exceptions import ApplicationError

from .models import Tenant, User

M = TypeVar("M", bound=Model)


def scoped(queryset: QuerySet[M], *, user: User, tenant_field: str = "tenant") -> QuerySet[M]:
    """Rows the user may see: their tenant's, or every tenant's for a platform admin."""
    if user.is_platform_admin:
        return queryset
    return queryset.filter(**{tenant_field: user.tenant_id})


def get_scoped(queryset: QuerySet[M], *, user: User, tenant_field: str = "tenant", **lookup: object) -> M:
    """One row the user may see; another tenant's row is a 404, so its existence is not revealed."""
    try:
        return scoped(queryset, user=user, tenant_field=tenant_field).get(**lookup)
    except (ObjectDoesNotExist, ValueError) as exc:
        raise Http404 from exc


def acting_tenant(*, user: User, tenant_id: UUID | str | None = None) -> Tenant:
    """The tenant a write acts for: the user's own, or the one a platform admin names."""
    if not user.is_platform_admin:
        assert user.tenant is not None
        return user.tenant
    if not tenant_id:
        raise ApplicationError("A platform admin must name the tenant.", fields={"tenant": ["This field is required."]})
    try:
        return Tenant.objects.get(pk=tenant_id)
    except (Tenant.DoesNotExist, ValueError, ValidationError) as exc:
        raise ApplicationError("Unknown tenant.", fields={"tenant": ["Unknown tenant."]}) from exc
