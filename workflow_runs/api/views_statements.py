"""Statements: the tenant's ledger, paginated or as CSV, filterable by run and period, so a customer can
check every reservation, capture and release against their runs."""

import csv
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import BoundedPagination
from tenants.auth import user_of
from tenants.permissions import IsTenantUser
from tenants.selectors import acting_tenant

from ..models import CreditLedgerEntry
from ..selectors import ledger_entries
from .serializers import LedgerEntrySerializer

CSV_COLUMNS = ["id", "created_at", "run", "round", "reason", "source", "amount", "files", "note"]


class _StatementQuery(serializers.Serializer):
    tenant = serializers.UUIDField(required=False)
    run = serializers.UUIDField(required=False)
    since = serializers.DateTimeField(required=False, help_text="From this time (inclusive).")
    until = serializers.DateTimeField(required=False, help_text="Up to this time (exclusive).")


PARAMETERS = [
    OpenApiParameter("tenant", OpenApiTypes.UUID, description="Platform admins: the tenant."),
    OpenApiParameter("run", OpenApiTypes.UUID, description="Only this run's movements."),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="From this time (inclusive)."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Up to this time (exclusive)."),
]


def _entries(request: Request) -> Any:
    query = _StatementQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    tenant = acting_tenant(user=user_of(request), tenant_id=data.get("tenant"))
    return ledger_entries(tenant_id=tenant.pk, run_id=data.get("run"), since=data.get("since"), until=data.get("until"))


class LedgerApi(APIView):
    pagination_class = BoundedPagination
    permission_classes = [IsTenantUser]

    @extend_schema(parameters=PARAMETERS, responses={200: LedgerEntrySerializer(many=True)})
    def get(self, request: Request) -> Response:
        """The tenant's ledger, newest first (limit/offset pagination)."""
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(_entries(request), request, view=self)
        return paginator.get_paginated_response(LedgerEntrySerializer(page, many=True).data)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(entries: Any) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    entry: CreditLedgerEntry
    for entry in entries.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                entry.pk,
                entry.created_at.isoformat(),
                entry.run_id or "",
                entry.round if entry.round is not None else "",
                entry.reason,
                entry.source,
                entry.amount,
                entry.files if entry.files is not None else "",
                entry.note,
            ]
        )


class LedgerCsvApi(APIView):
    permission_classes = [IsTenantUser]

    @extend_schema(
        parameters=PARAMETERS,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One ledger row per line.")},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        """The same statement as CSV (every row, streamed)."""
        entries = _entries(request)
        response = StreamingHttpResponse(_csv_rows(entries), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="credit-ledger.csv"'
        return response
