"""The OpenAPI schema's shared parts: one error-envelope component and the error answers every
operation can give, documented from what the view is (its permissions, path, body) so that a new
endpoint is documented the same way without a line of its own.

`tests/contract` runs schemathesis against the served schema: an answer the schema does not list is a
failure there, so these rules follow what the code does (`core.api.exception_handler`,
`core.middleware`, the permission classes)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.settings import api_settings


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable: `invalid`, `not_found`, `phase_config_frozen`, …")
    message = serializers.CharField()
    # A declared field (DRF's metaclass takes it out of the class), not Serializer.fields.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text='Field-level messages (`{"field": ["message"]}`), on validation errors.'
    )


class ErrorSerializer(serializers.Serializer):
    """Every error answer (`{"error": {"code", "message", "fields"?}}`); a few add machine-readable keys
    beside `error` (for example `missingPhases`)."""

    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    "400": "Invalid input (field-level messages in `error.fields`) or a business rule refused it.",
    "401": "No credentials, or a bad, expired or revoked token.",
    "402": "Not enough credits.",
    "403": "The caller's role may not do this.",
    "404": "No such object in the caller's tenant (another tenant's object is a 404 too).",
    "409": "Conflict with the object's state.",
    "413": "The request body is over the size limit.",
    "415": "Unsupported media type (JSON or multipart only).",
    "422": "This Idempotency-Key was used with a different request.",
    "429": "Too many requests (see `Retry-After`).",
}


def error_response(code: int | str, description: str | None = None) -> OpenApiResponse:
    """An error answer in the envelope, for `extend_schema(responses={...})`."""
    return OpenApiResponse(ErrorSerializer, description=description or ERROR_DESCRIPTIONS.get(str(code), ""))


class RelayAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema with the error answers every operation of this API can give."""

    def _implied_errors(self) -> list[str]:
        permissions = self.view.get_permissions()
        public = all(isinstance(p, AllowAny) for p in permissions)
        codes = []
        if self._get_request_body() or self._query_parameters():
            codes.append("400")
        if not public:
            codes.append("401")
            if not all(type(p) is IsAuthenticated for p in permissions):
                codes.append("403")
        if "{" in self.path:
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["413", "415"]
        if self.view.get_throttles():
            codes.append("429")
        return codes

    def _query_parameters(self) -> bool:
        return any(p.get("in") == "query" for p in self._get_parameters())

    def _map_serializer_field(self, field: Any, direction: Any, bypass_extensions: bool = False) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and field.trim_whitespace
            and not field.allow_blank
            and "pattern" not in schema
            and schema.get("type") == "string"
        ):
            # Surrounding whitespace is trimmed before the non-blank rule: something else must be there.
            # Python strips \x1c-\x1f and \x85 too, which ECMA's `\s` (schema tools) does not match.
            schema["pattern"] = r"[^\s\x1c-\x1f\x85]"
        return schema

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        if direction == "response":
            # Input rules are no promise about output (and Django's username regex uses Python's
            # Unicode `\w`, which JSON Schema engines read as ASCII).
            for field_schema in schema.get("properties", {}).values():
                field_schema.pop("pattern", None)
        return schema

    def _get_parameters(self) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super()._get_parameters()
        for parameter in parameters:
            # Query strings are read as form data: `?until=` is the same as leaving `until` out.
            if parameter.get("in") == "query" and not parameter.get("required"):
                parameter["allowEmptyValue"] = True
        return parameters

    def map_parsers(self) -> list[Any]:
        """JSON bodies, and multipart only where the view takes uploads: every view also parses
        multipart (a convenience of the test client and the browsable API), but where a form's empty
        field means "left out" the JSON contract would not hold, so it is not part of the API."""
        media_types: list[Any] = super().map_parsers()
        if getattr(self.view, "parser_classes", None) == api_settings.DEFAULT_PARSER_CLASSES:
            return [media_type for media_type in media_types if media_type == "application/json"]
        return media_types

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._implied_errors():
            responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code]})
        error_schema = self.resolve_serializer(ErrorSerializer, "response").ref
        for code, response in responses.items():
            if code >= "400" and "content" not in response:
                response["content"] = {"application/json": {"schema": error_schema}}
                response["description"] = response.get("description") or ERROR_DESCRIPTIONS.get(code, "")
        return dict(sorted(responses.items()))
