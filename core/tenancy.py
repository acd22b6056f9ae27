"""What `core` needs to know about callers and tenants, without importing the app that defines them.

Arrows point down: `core/` and `orchestration/` import no domain app. Code here that must authenticate
a caller or scope a query to the caller's tenant (the SSE endpoint, which DRF does not serve) calls
these hooks; the `tenants` app installs its implementations in `TenantsConfig.ready()`, the way
`django.contrib.auth` lets a project plug in its user model. Until then a call fails loudly
(ImproperlyConfigured), never silently unscoped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.http import HttpRequest


class Caller(Protocol):
    """The authenticated user as `core` sees it: an id, a tenant (None for a platform admin without one)
    and whether it may act on every tenant."""

    @property
    def pk(self) -> Any: ...

    @property
    def tenant_id(self) -> Any: ...

    @property
    def is_platform_admin(self) -> bool: ...


@dataclass(frozen=True)
class TenancyHooks:
    # The caller of a plain Django request (token header or session); None when unauthenticated.
    request_caller: Callable[[HttpRequest], Caller | None]
    # The rows of `queryset` that `caller` may see.
    scope: Callable[[QuerySet[Any], Caller], QuerySet[Any]]


_installed: TenancyHooks | None = None


def install(hooks: TenancyHooks) -> None:
    """Called once by the app that owns users and tenants (its AppConfig.ready())."""
    global _installed
    _installed = hooks


def hooks() -> TenancyHooks:
    if _installed is None:
        raise ImproperlyConfigured("No tenancy hooks installed: is the tenants app in INSTALLED_APPS?")
    return _installed


def request_caller(request: HttpRequest) -> Caller | None:
    return hooks().request_caller(request)


def scoped(queryset: QuerySet[Any], *, caller: Caller) -> QuerySet[Any]:
    return hooks().scope(queryset, caller)
