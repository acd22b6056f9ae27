"""Authentication for plain (async) Django views such as SSE streams, which DRF does not serve."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from core.request_context import bind_caller

from .models import User

MAX_TOKEN_CHARS = 200


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's token auth, refusing (401) a token that is not short printable ASCII before knox decodes
    it as UTF-8 (a UnicodeDecodeError, a 500) or queries with it (NUL: a DataError, a 500)."""

    def authenticate_credentials(self, token: bytes) -> Any:
        if len(token) > MAX_TOKEN_CHARS or not token.isascii() or not token.decode("ascii").isprintable():
            raise AuthenticationFailed("Invalid token.")
        user, auth_token = super().authenticate_credentials(token)
        bind_caller(user)  # the request's log lines (and the jobs it enqueues) name their tenant and user
        return user, auth_token


def request_user(request: HttpRequest) -> User | None:
    """The caller from an `Authorization: Token …` header or the session (synchronous)."""
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
    return await sync_to_async(request_user)(request)
