from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import knox_settings

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


@transaction.atomic
def token_issue(*, user: User) -> tuple[AuthToken, str]:
    """A new API token. knox's per-user limit holds: expired tokens are dropped, and past the limit the
    oldest live tokens are revoked to make room (a login always works; a user never holds more)."""
    User.objects.select_for_update().filter(pk=user.pk).first()  # serialises logins of one user
    tokens = AuthToken.objects.filter(user=user)
    tokens.filter(expiry__lt=timezone.now()).delete()
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit:
        surplus = list(tokens.order_by("-created").values_list("pk", flat=True)[limit - 1 :])
        AuthToken.objects.filter(pk__in=surplus).delete()
    return AuthToken.objects.create(user)
