from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Tenant, User


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin[Tenant]):
    list_display = ["name", "slug", "id", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "tenant", "role", "is_staff"]
    list_filter = ["role", "tenant"]
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("Tenancy", {"fields": ("tenant", "role")}))
