from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from core.admin_actions import confirmation_page, confirmed, require_platform_admin, run_each

from . import fair_share
from .admin_scoping import TenantScopedAdmin, admin_user
from .api.serializers import FairShareSerializer
from .models import Tenant, User


class FairShareForm(forms.Form):
    max_running = forms.IntegerField(
        required=False, label="Max running jobs", help_text="0 holds the tenant's work; blank: the platform default."
    )


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin[Tenant]):
    tenant_field = "pk"
    list_display = ["name", "slug", "id", "created_at"]
    search_fields = ["name", "slug"]
    actions: list[Any] = ["set_fair_share"]  # workflow_runs adds "grant credits"

    @admin.action(description="Set the fair-share cap (running jobs)")
    def set_fair_share(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> TemplateResponse | None:
        tenants = list(queryset.order_by("pk"))
        form = FairShareForm(request.POST if confirmed(request) else None)
        if not form.is_valid():
            lines = [f"{tenant}: {fair_share.tenant_max_running(tenant)}" for tenant in tenants]
            return confirmation_page(
                self, request, title="Cap running jobs", lines=lines, selected=tenants, form=form, confirm="Set"
            )
        actor = admin_user(request)

        def cap(tenant: Tenant) -> object:
            require_platform_admin(actor)
            serializer = FairShareSerializer(data={"maxRunningJobs": form.cleaned_data["max_running"]})
            serializer.is_valid(raise_exception=True)
            return fair_share.tenant_max_running_set(
                tenant=tenant, max_running=serializer.validated_data["maxRunningJobs"], actor=actor
            )

        run_each(self, request, tenants, cap, done="fair-share cap set.")
        return None


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "tenant", "role", "is_staff", "last_login"]
    list_filter = ["role", "tenant", "is_staff"]
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("Tenancy", {"fields": ("tenant", "role")}))

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        queryset: QuerySet[User] = super().get_queryset(request)
        user = admin_user(request)
        if user.is_platform_admin:
            return queryset
        return queryset.filter(tenant_id=user.tenant_id) if user.tenant_id else queryset.none()
