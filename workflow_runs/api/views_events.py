"""Server-sent events of one run (`run:<id>`): an async view, so a waiting client holds no thread."""

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from orchestration.events import sse_response
from tenants.auth import authenticated_user
from tenants.selectors import scoped

from ..models import WorkflowRun


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@require_GET
async def run_events(request: HttpRequest, run_id: str) -> HttpResponse | StreamingHttpResponse:
    """run_started, file_completed / file_failed, retry_started, run_finished; replays from Last-Event-ID."""
    user = await authenticated_user(request)
    if user is None:
        return _error(401, "not_authenticated", "Authentication credentials were not provided.")
    if not (user.tenant_id or user.is_platform_admin):
        return _error(403, "permission_denied", "You do not have permission to perform this action.")
    visible = await sync_to_async(scoped(WorkflowRun.objects.filter(pk=run_id), user=user).exists)()
    if not visible:
        return _error(404, "not_found", "Not found.")
    return sse_response(request, stream=f"run:{run_id}")
