"""`GET /api/workflow-runs/<id>/events`: run_started, files_progress, retry_started, run_finished /
run_cancelled over SSE; replays from Last-Event-ID."""

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from core.sse import object_event_stream

from ..models import WorkflowRun


async def run_events(request: HttpRequest, run_id: str) -> HttpResponseBase:
    return await object_event_stream(request, queryset=WorkflowRun.objects.all(), pk=run_id)
