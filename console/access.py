"""Who may use a console page, and the API's errors as the pages show them.

The console calls the same services and selectors as the API; what the API answers with an error
(`core.api.exception_handler`: 400 with fields, 402, 403, 409 with `missingPhases`…) a page shows where
the person acted, with the same status code, code and message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework import exceptions

from core.api import exception_handler
from core.exceptions import ApplicationError
from tenants.models import User

T = TypeVar("T")


@dataclass(frozen=True)
class ActionError:
    """An error envelope of the API (`{"error": {"code", "message", "fields"?}, ...extra}`) and its status."""

    status: int
    code: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def attempt(action: Callable[[], T]) -> tuple[T | None, ActionError | None]:
    """Run one service call; an error the API would answer with becomes an `ActionError` (404s propagate:
    another tenant's object is a 404 page, as in the API)."""
    try:
        return action(), None
    except (ApplicationError, exceptions.APIException) as exc:
        response = exception_handler(exc, {})
        assert response is not None
        body = dict(response.data)
        error = body.pop("error")
        return None, ActionError(
            status=response.status_code,
            code=error["code"],
            message=error["message"],
            fields=error.get("fields") or {},
            extra=body,
        )


def require_tenant_admin(user: User) -> None:
    """The API's `IsTenantAdmin`: the same 403 (`permission_denied`) for a member."""
    if not user.is_tenant_admin:
        raise exceptions.PermissionDenied()


def console_user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def tenant_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in (else the sign-in page; an htmx request is told to go there) and, like the API's
    `IsTenantUser`, in a tenant or a platform admin."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            if request.headers.get("HX-Request"):
                response = HttpResponse(status=401)
                response["HX-Redirect"] = redirect_to_login(request.get_full_path())["Location"]
                return response
            return redirect_to_login(request.get_full_path())
        if not isinstance(user, User) or not (user.tenant_id or user.is_platform_admin):
            return render(request, "console/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def fragment(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    error: ActionError | None = None,
    trigger: str | None = None,
) -> HttpResponse:
    """A fragment answered to an htmx request, with the status of the error it shows (if any)."""
    response = render(request, template, {**context, "error": error}, status=error.status if error else 200)
    if trigger:
        response["HX-Trigger"] = trigger
    return response
