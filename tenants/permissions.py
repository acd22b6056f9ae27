from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .auth import user_of


class IsTenantUser(BasePermission):
    """Authenticated and either in a tenant or a platform admin."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.tenant_id or user.is_platform_admin))


class IsTenantAdmin(IsTenantUser):
    """`tenant_admin` of its tenant, or `platform_admin`."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return super().has_permission(request, view) and user_of(request).is_tenant_admin


class IsPlatformAdmin(IsTenantUser):
    def has_permission(self, request: Request, view: Any) -> bool:
        return super().has_permission(request, view) and user_of(request).is_platform_admin
