"""The SSE endpoints: one tenant-owned object's event stream, and the caller's change feed. The same
405/401/403/404 answers as the REST API, then the caps on open streams (429 past them, both kinds
count), then the object's event stream (replay from `Last-Event-ID`, then live) or the feed (a resync
frame, then one frame per burst of changes). For async views: a waiting client holds no thread."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.db.models import Model, QuerySet
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from redis.exceptions import RedisError

from orchestration import stream_slots
from orchestration.events import sse_response
from orchestration.feeds import feed_response

from .api import error_body
from .change_feed import PLATFORM_FEED, tenant_feed
from .tenancy import Caller, request_caller, scoped

# A slot frees when any of the caller's streams closes, which nobody can foresee: try again soon.
RETRY_AFTER_SECONDS = 10


def _error(status: int, code: str, message: str, *, retry_after: int | None = None) -> JsonResponse:
    response = JsonResponse(error_body(code, message), status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def stream_caps(user: Caller) -> list[tuple[str, int]]:
    """The caps a stream of `user` counts against: theirs, and their tenant's."""
    caps = [(f"sse:user:{user.pk}", int(settings.RELAY_SSE_MAX_PER_USER))]
    if user.tenant_id:
        caps.append((f"sse:tenant:{user.tenant_id}", int(settings.RELAY_SSE_MAX_PER_TENANT)))
    return caps


def _caller_and_object(request: HttpRequest, queryset: QuerySet[Any], pk: Any) -> tuple[Caller | None, Model | None]:
    """Runs on an executor thread and gives its database connection back before the stream starts:
    an open stream holds no connection of the pool (its reads borrow one each time)."""
    try:
        user = request_caller(request)
        if user is None or not (user.tenant_id or user.is_platform_admin):
            return user, None
        return user, scoped(queryset.filter(pk=pk), caller=user).first()
    finally:
        connection.close()


def _caller(request: HttpRequest) -> Caller | None:
    try:
        return request_caller(request)
    finally:
        connection.close()


def _refusal(request: HttpRequest, user: Caller | None) -> JsonResponse | None:
    if request.method != "GET":
        return _error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    if user is None:
        return _error(401, "not_authenticated", "Authentication credentials were not provided.")
    if not (user.tenant_id or user.is_platform_admin):
        return _error(403, "permission_denied", "You do not have permission to perform this action.")
    return None


async def _stream_slot(user: Caller) -> stream_slots.Slot | JsonResponse:
    try:
        return await stream_slots.acquire(caps=stream_caps(user))
    except stream_slots.CapReached as full:
        whose = "your tenant" if ":tenant:" in full.key else "you"
        message = f"Too many open event streams: {whose} may hold {full.cap} at once. Close one and retry."
        return _error(429, "too_many_streams", message, retry_after=RETRY_AFTER_SECONDS)
    except RedisError:
        return _error(503, "streams_unavailable", "Event streams are unavailable right now.", retry_after=5)


async def object_event_stream(request: HttpRequest, *, queryset: QuerySet[Any], pk: Any) -> HttpResponseBase:
    """Stream the events of `queryset.get(pk=pk)` (a model with a `stream` property) to its tenant."""
    if request.method != "GET":
        return _error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    user, found = await sync_to_async(_caller_and_object, thread_sensitive=False)(request, queryset, pk)
    refused = _refusal(request, user)
    if refused is not None:
        return refused
    if found is None:
        return _error(404, "not_found", "Not found.")
    assert user is not None
    slot = await _stream_slot(user)
    if isinstance(slot, JsonResponse):
        return slot
    return sse_response(request, stream=found.stream, slot=slot)  # type: ignore[attr-defined]


def feed_of(user: Caller) -> str:
    """The change feed a user follows: their tenant's; a platform admin's lists show every tenant, so
    theirs is the platform feed, which every tenant's changes ring as well."""
    return PLATFORM_FEED if user.is_platform_admin else tenant_feed(user.tenant_id)


async def change_feed_stream(request: HttpRequest) -> HttpResponseBase:
    """The caller's change feed: which of their tenant's campaigns, runs and scans were created or
    changed status (`orchestration/feeds.py`). Nobody chooses a feed: it follows from who asks."""
    if request.method != "GET":
        return _error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    user = await sync_to_async(_caller, thread_sensitive=False)(request)
    refused = _refusal(request, user)
    if refused is not None:
        return refused
    assert user is not None
    slot = await _stream_slot(user)
    if isinstance(slot, JsonResponse):
        return slot
    return feed_response(feed=feed_of(user), slot=slot)
