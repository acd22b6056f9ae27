"""API plumbing shared by every app: the error format."""

from typing import Any

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from .exceptions import ApplicationError


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return body


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error answers `{"error": {"code", "message", "fields"?}}` with the right status."""
    if isinstance(exc, ApplicationError):
        body = error_body(exc.code, exc.message, exc.fields)
        body.update(exc.extra)
        return Response(body, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body("invalid", "Invalid input.", fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):
        body = error_body("request_too_large", "The request body is over the size limit.")
        return Response(body, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, TooManyFilesSent):
        return Response(error_body("too_many_files", "Too many files in one request."), status=400)
    if isinstance(exc, TooManyFieldsSent):
        return Response(error_body("too_many_fields", "Too many fields in one request."), status=400)
    if isinstance(exc, OperationalError | InterfaceError):
        # PostgreSQL went away under the request (a restart, a failover, a killed backend): nothing it
        # began has committed, and the next request gets a new connection; a client should try again.
        set_rollback()
        body = error_body("database_unavailable", "The database is unavailable right now; try again shortly.")
        return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "1"})
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body("invalid", "Invalid input.", detail)
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = error_body(code, str(exc.detail))
    return response
