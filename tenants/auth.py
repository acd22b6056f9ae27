"""Authentication for plain (async) Django views such as SSE streams, which DRF does not serve."""

from __future__ import annotations

import binascii
from hmac import compare_digest
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from core.request_context import bind_caller

from .models import User

MAX_TOKEN_CHARS = 200


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's token auth in one query per request, refusing (401) a token that is not short printable
    ASCII before it is decoded (knox's UTF-8 decode: a 500) or queried with (NUL: a DataError, a 500).

    knox also reads all of the user's tokens on every request to delete the expired ones; here an
    expired token is refused (and deleted) when it is presented, and the user's other expired tokens
    are deleted at their next login (`services.token_issue`), which saves a query on every request."""

    def authenticate_credentials(self, token: bytes) -> Any:
        if len(token) > MAX_TOKEN_CHARS or not token.isascii() or not token.decode("ascii").isprintable():
            raise AuthenticationFailed("Invalid token.")
        text = token.decode("ascii")
        try:
            digest = hash_token(text)
        except (TypeError, binascii.Error):
            raise AuthenticationFailed("Invalid token.") from None
        now = timezone.now()
        key = text[: CONSTANTS.TOKEN_KEY_LENGTH]
        for auth_token in AuthToken.objects.filter(token_key=key).select_related("user"):
            if not compare_digest(digest, auth_token.digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry < now:
                auth_token.delete()
                break
            if knox_settings.AUTO_REFRESH and auth_token.expiry:
                self.renew_token(auth_token)
            user, auth_token = self.validate_user(auth_token)
            bind_caller(user)  # the request's log lines (and the jobs it enqueues) name their tenant and user
            return user, auth_token
        raise AuthenticationFailed("Invalid token.")


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
