"""Admin pages see what the API would let their user see: a platform admin (platform staff) every
tenant's rows, a tenant's staff user only that tenant's."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from .models import User

M = TypeVar("M", bound=Model)


class TenantScopedAdmin(admin.ModelAdmin[M], Generic[M]):
    tenant_field = "tenant"

    def get_queryset(self, request: HttpRequest) -> QuerySet[M]:
        queryset: QuerySet[M] = super().get_queryset(request)
        user: Any = request.user
        if isinstance(user, User) and user.is_platform_admin:
            return queryset
        if isinstance(user, User) and user.tenant_id:
            return queryset.filter(**{self.tenant_field: user.tenant_id})
        return queryset.none()


def admin_user(request: HttpRequest) -> User:
    """The signed-in staff user acting in the admin (the actor the services record)."""
    user = request.user
    assert isinstance(user, User)
    return user
