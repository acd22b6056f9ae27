from django.db import transaction

from .models import Role, Tenant, User


@transaction.atomic
def tenant_create(*, name: str, slug: str) -> Tenant:
    return Tenant.objects.create(name=name, slug=slug)


def user_create(
    *, username: str, password: str, tenant: Tenant | None, role: str = Role.TENANT_MEMBER, email: str = ""
) -> User:
    user = User(
        username=username,
        email=email,
        tenant=tenant,
        role=role,
        is_staff=role == Role.PLATFORM_ADMIN,
        is_superuser=role == Role.PLATFORM_ADMIN,
    )
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user
