"""A request id per request: the caller's sane `X-Request-ID`, else a new one; echoed in the answer and
bound in structlog's context variables with the caller (tenant, user) once authenticated, so that
every log line of the request carries them, and so do the jobs it enqueues (`orchestration.origin`
stores the id with them; the worker binds it again when it runs them)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

HEADER = "X-Request-ID"
_META_KEY = "HTTP_X_REQUEST_ID"
# An id from a proxy or a client is kept only when it is short and made of safe characters: it goes
# into every log line and into a response header, so nothing that could forge either is accepted.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_of(request: HttpRequest) -> str:
    offered = request.META.get(_META_KEY, "")
    return offered if _SANE.fullmatch(offered) else uuid.uuid4().hex


def bind_caller(user: Any) -> None:
    """Bind the authenticated caller: its user id and, for a tenant's user, the tenant id (as text:
    ids may be UUIDs, and the jobs the request enqueues store them as JSON)."""
    structlog.contextvars.bind_contextvars(user=str(user.pk))
    tenant_id = getattr(user, "tenant_id", None)
    if tenant_id is not None:
        structlog.contextvars.bind_contextvars(tenant=str(tenant_id))


def _begin(request: HttpRequest) -> str:
    request_id = request_id_of(request)
    structlog.contextvars.clear_contextvars()  # a thread that served an earlier request keeps nothing of it
    structlog.contextvars.bind_contextvars(request_id=request_id)
    return request_id


def _finish(response: HttpResponseBase, request_id: str) -> HttpResponseBase:
    response[HEADER] = request_id
    structlog.contextvars.clear_contextvars()
    return response


@sync_and_async_middleware
def request_id_middleware(get_response: Callable[[HttpRequest], Any]) -> Any:
    if iscoroutinefunction(get_response):

        async def middleware_async(request: HttpRequest) -> HttpResponseBase:
            request_id = _begin(request)
            return _finish(await get_response(request), request_id)

        return middleware_async

    def middleware(request: HttpRequest) -> HttpResponseBase:
        request_id = _begin(request)
        return _finish(get_response(request), request_id)

    return middleware


def _has_session(request: HttpRequest) -> bool:
    # Without a session cookie there is no session user to look up (token callers bind themselves
    # in `tenants.auth.TokenAuthentication`): no query for them.
    return settings.SESSION_COOKIE_NAME in request.COOKIES


@sync_and_async_middleware
def session_caller_middleware(get_response: Callable[[HttpRequest], Any]) -> Any:
    """After Django's AuthenticationMiddleware: bind a session's user (the console, the admin)."""
    if iscoroutinefunction(get_response):

        async def middleware_async(request: HttpRequest) -> HttpResponseBase:
            if _has_session(request):
                user = await request.auser()
                if user.is_authenticated:
                    bind_caller(user)
            return await get_response(request)

        return middleware_async

    def middleware(request: HttpRequest) -> HttpResponseBase:
        if _has_session(request) and request.user.is_authenticated:
            bind_caller(request.user)
        return get_response(request)

    return middleware
