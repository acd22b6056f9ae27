"""Errors Django answers itself (unknown URLs, a refused Host, a body over the limits, an exception
that escaped a view) leave in the API's `{"error": …}` envelope too, never as an HTML page or a
traceback, even with DEBUG on. The admin and the console keep their HTML pages."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

from .api import error_body

_CODES = {400: "bad_request", 403: "permission_denied", 404: "not_found", 405: "method_not_allowed"}
_HTML_PREFIXES = ("/admin/", "/static/", "/console/")


def _needs_envelope(request: HttpRequest, response: HttpResponseBase) -> bool:
    if response.status_code < 400 or request.path.startswith(_HTML_PREFIXES):
        return False
    return not str(response.get("Content-Type", "")).startswith("application/json")


def enveloped(response: HttpResponseBase) -> JsonResponse:
    status = response.status_code
    if status >= 500:
        # Nothing of what failed (exception text, traceback) is shown; the server log has it.
        return JsonResponse(error_body("internal_error", "Something went wrong on our side."), status=status)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body = JsonResponse(error_body(_CODES.get(status, phrase.lower().replace(" ", "_")), f"{phrase}."), status=status)
    for header in ("Allow", "WWW-Authenticate", "Retry-After"):
        if header in response:
            body[header] = response[header]
    return body


@sync_and_async_middleware
def error_envelope_middleware(get_response: Callable[[HttpRequest], Any]) -> Any:
    if iscoroutinefunction(get_response):

        async def middleware_async(request: HttpRequest) -> HttpResponseBase:
            response = await get_response(request)
            return enveloped(response) if _needs_envelope(request, response) else response

        return middleware_async

    def middleware(request: HttpRequest) -> HttpResponseBase:
        response = get_response(request)
        return enveloped(response) if _needs_envelope(request, response) else response

    return middleware
