"""The one paginator of every API list: `?limit=` capped, `?offset=` bounded by what a query can take.

Both are strict: a value that is not a whole number in range is a 400 on the parameter (DRF's own
paginator falls back to the defaults instead, which answers a page the caller did not ask for); an
empty value is the same as leaving the parameter out."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

MAX_OFFSET = 2**31 - 1


def _whole_number(request: Request, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    # The same parsing as every other integer parameter of the API (DRF's: `10` and `10.0` alike).
    field = serializers.IntegerField(min_value=minimum)
    if maximum is not None:
        field = serializers.IntegerField(min_value=minimum, max_value=maximum)
    try:
        return int(field.run_validation(raw))
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({name: exc.detail}) from None


class BoundedPagination(LimitOffsetPagination):
    default_limit = 50

    @property
    def max_limit(self) -> int:  # type: ignore[override]
        return int(getattr(settings, "RELAY_API_MAX_PAGE_SIZE", 200))

    def get_limit(self, request: Request) -> int:
        limit = _whole_number(request, self.limit_query_param, minimum=1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request: Request) -> int:
        offset = _whole_number(request, self.offset_query_param, minimum=0, maximum=MAX_OFFSET)
        return offset or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(minimum=1)
                parameter["description"] = (
                    f"Page size (default {self.default_limit}; more than {self.max_limit} is {self.max_limit})."
                )
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"].update(minimum=0, maximum=MAX_OFFSET)
        return parameters

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        page_link = {"type": ["string", "null"], "format": "uri"}
        return {
            "type": "object",
            "required": ["count", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "next": page_link,
                "previous": page_link,
                "results": schema,
            },
        }
