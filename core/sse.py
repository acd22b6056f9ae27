"""The SSE endpoint of one tenant-owned object: the same 405/401/403/404 answers as the REST API, then
the object's event stream (replay from `Last-Event-ID`, then live). For async views: a waiting client
holds no thread."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Model, QuerySet
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase

from orchestration.events import sse_response
from tenants.auth import authenticated_user
from tenants.selectors import scoped

from .api import error_body


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


async def object_event_stream(request: HttpRequest, *, queryset: QuerySet[Any], pk: Any) -> HttpResponseBase:
    """Stream the events of `queryset.get(pk=pk)` (a model with a `stream` property) to its tenant."""
    if request.method != "GET":
        return _error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    user = await authenticated_user(request)
    if user is None:
        return _error(401, "not_authenticated", "Authentication credentials were not provided.")
    if not (user.tenant_id or user.is_platform_admin):
        return _error(403, "permission_denied", "You do not have permission to perform this action.")
    found: Model | None = await sync_to_async(lambda: scoped(queryset.filter(pk=pk), user=user).first())()
    if found is None:
        return _error(404, "not_found", "Not found.")
    return sse_response(request, stream=found.stream)  # type: ignore[attr-defined]
