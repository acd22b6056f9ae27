"""`GET /console/changes`: the signed-in person's change feed over SSE (their tenant's campaigns, runs
and scans created or changing status; every tenant's for a platform admin), which the dashboard
follows to refresh its lists. Same answers and stream caps as the per-object streams (`core/sse.py`)."""

from __future__ import annotations

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from core.sse import change_feed_stream


async def changes(request: HttpRequest) -> HttpResponseBase:
    return await change_feed_stream(request)
