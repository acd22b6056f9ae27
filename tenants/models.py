import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    TENANT_MEMBER = "tenant_member", "Tenant member"
    TENANT_ADMIN = "tenant_admin", "Tenant admin"
    PLATFORM_ADMIN = "platform_admin", "Platform admin"


class User(AbstractUser):
    """A person. Tenant roles belong to exactly one tenant; a platform admin may act on any tenant."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="users")
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.TENANT_MEMBER)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="user_tenant_role_has_tenant",
                condition=models.Q(role="platform_admin") | models.Q(tenant__isnull=False),
            ),
        ]

    @property
    def is_platform_admin(self) -> bool:
        return self.role == Role.PLATFORM_ADMIN

    @property
    def is_tenant_admin(self) -> bool:
        return self.role in (Role.TENANT_ADMIN, Role.PLATFORM_ADMIN)
