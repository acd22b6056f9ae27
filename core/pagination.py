"""The one paginator of every API list: `?limit=` capped, `?offset=` bounded by what a query can take."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

MAX_OFFSET = 2**31 - 1


class BoundedPagination(LimitOffsetPagination):
    default_limit = 50

    @property
    def max_limit(self) -> int:  # type: ignore[override]
        return int(getattr(settings, "RELAY_API_MAX_PAGE_SIZE", 200))

    def get_offset(self, request: Request) -> int:
        offset = super().get_offset(request)
        if offset > MAX_OFFSET:
            raise serializers.ValidationError({"offset": [f"Must be at most {MAX_OFFSET}."]})
        return offset
