"""`GET /api/campaigns/<id>/events`: the campaign's event stream over SSE."""

from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from core.sse import object_event_stream

from ..models import Campaign


async def campaign_events(request: HttpRequest, campaign_id: Any) -> HttpResponseBase:
    return await object_event_stream(request, queryset=Campaign.objects.all(), pk=campaign_id)
