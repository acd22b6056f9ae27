from typing import Any

from django.apps import AppConfig
from django.db.models import QuerySet


class TenantsConfig(AppConfig):
    name = "tenants"

    def ready(self) -> None:
        from core import tenancy

        from . import schema  # noqa: F401  (registers the token scheme with drf-spectacular)
        from .auth import request_user

        # core/ may not import this app (arrows point down): it asks through these hooks instead.
        tenancy.install(tenancy.TenancyHooks(request_caller=request_user, scope=_scope))


def _scope(queryset: QuerySet[Any], caller: Any) -> QuerySet[Any]:
    from .models import User
    from .selectors import scoped

    if not isinstance(caller, User):  # only request_user's callers reach here
        raise TypeError(f"not a tenants.User: {caller!r}")
    return scoped(queryset, user=caller)
