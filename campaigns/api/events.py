"""`GET /api/campaigns/<id>/events`: the campaign's event stream over SSE (async: no thread per client)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from orchestration.events import sse_response
from tenants.auth import authenticated_user
from tenants.selectors import scoped

from ..models import Campaign


async def campaign_events(request: HttpRequest, campaign_id: Any) -> HttpResponse | StreamingHttpResponse:
    user = await authenticated_user(request)
    if user is None:
        return JsonResponse({"error": {"code": "not_authenticated", "message": "Authentication required."}}, status=401)
    visible = await sync_to_async(lambda: scoped(Campaign.objects.filter(pk=campaign_id), user=user).exists())()
    if not visible:
        return JsonResponse({"error": {"code": "not_found", "message": "Not found."}}, status=404)
    return sse_response(request, stream=f"campaign:{campaign_id}")
