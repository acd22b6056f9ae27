"""Authentication for plain (async) Django views such as SSE streams, which DRF does not serve."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from .models import User


def _authenticate(request: HttpRequest) -> User | None:
    try:
        result = TokenAuthentication().authenticate(Request(request))
    except AuthenticationFailed:
        return None
    if result is not None:
        return result[0]
    user = getattr(request, "user", None)  # the session (admin, browsable API)
    return user if user is not None and user.is_authenticated else None


def user_of(request: Request | HttpRequest) -> User:
    """The authenticated user of a request that passed an IsAuthenticated-style permission."""
    user = request.user
    if not isinstance(user, User):
        raise TypeError("user_of() needs an authenticated request")
    return user


async def authenticated_user(request: HttpRequest) -> User | None:
    """The caller from an `Authorization: Token …` header or the session; None when neither is valid."""
    if "HTTP_AUTHORIZATION" not in request.META and hasattr(request, "auser"):
        user = await request.auser()
        return user if isinstance(user, User) else None
    return await sync_to_async(_authenticate)(request)
