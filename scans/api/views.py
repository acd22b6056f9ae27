from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import idempotency
from core.exceptions import ApplicationError
from core.pagination import BoundedPagination
from core.schema import error_response
from core.sse import object_event_stream
from tenants.auth import user_of
from tenants.permissions import IsTenantAdmin, IsTenantUser
from tenants.selectors import acting_tenant

from .. import checks, conf, selectors, services
from ..models import Scan, ScanStatus
from .presenters import scan_out, scans_out
from .serializers import (
    RetryAcceptedSerializer,
    RetryStatusSerializer,
    ScanCreateSerializer,
    ScanRetrySerializer,
    ScanSerializer,
    ServiceInfoSerializer,
)


class ScanListApi(APIView):
    """Scans of the caller's tenant (newest first), and starting a new one."""

    pagination_class = BoundedPagination

    permission_classes = [IsTenantUser]

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=ScanStatus.values)], responses={200: ScanSerializer(many=True)}
    )
    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("status") or None
        if wanted is not None and wanted not in ScanStatus.values:
            choices = ", ".join(ScanStatus.values)
            raise ApplicationError("Unknown status.", fields={"status": [f"Choose from {choices}."]})
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.scan_rows(user=user_of(request), status=wanted), request, self)
        return paginator.get_paginated_response(scans_out(page or []))

    @extend_schema(
        request=ScanCreateSerializer,
        parameters=[idempotency.PARAMETER],
        responses={201: ScanSerializer, **idempotency.RESPONSES},
    )
    @idempotency.idempotent
    def post(self, request: Request) -> Response:
        serializer = ScanCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tenant = acting_tenant(user=user_of(request), tenant_id=data.get("tenant"))
        scan = services.scan_create(
            tenant=tenant,
            actor=user_of(request),
            url=data["url"],
            services=data["services"],
            keywords=data["keywords"],
            max_attempts=data["max_attempts"],
        )
        return Response(scan_out(scan), status=status.HTTP_201_CREATED)


class ScanDetailApi(APIView):
    permission_classes = [IsTenantUser]

    @extend_schema(responses={200: ScanSerializer})
    def get(self, request: Request, scan_id: Any) -> Response:
        return Response(scan_out(selectors.scan_get(user=user_of(request), scan_id=scan_id)))

    @extend_schema(responses={204: None, 403: None, 409: None})
    def delete(self, request: Request, scan_id: Any) -> Response:
        """Delete a finished scan with its results and events (tenant admins); 409 while it runs."""
        scan = selectors.scan_get(user=user_of(request), scan_id=scan_id)
        if not user_of(request).is_tenant_admin:
            raise ApplicationError("Only a tenant admin may delete a scan.", code="permission_denied", status=403)
        services.scan_delete(scan=scan, actor=user_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ScanRetryApi(APIView):
    """Retry failed services: `{"services": [...]}` or `{}` for every retryable one. 400 with a code per
    service when one cannot be retried (nothing is retried then); 409 while the scan runs."""

    permission_classes = [IsTenantUser]

    @extend_schema(
        request=ScanRetrySerializer,
        parameters=[idempotency.PARAMETER],
        responses={202: RetryAcceptedSerializer, **idempotency.RESPONSES},
    )
    @idempotency.idempotent
    def post(self, request: Request, scan_id: Any) -> Response:
        scan = selectors.scan_get(user=user_of(request), scan_id=scan_id)
        services.scan_check_may_retry(user=user_of(request), scan=scan)
        serializer = ScanRetrySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        wanted = serializer.validated_data.get("services")
        outcome = services.scan_retry(scan=scan, actor=user_of(request), services=wanted)
        return Response(
            {
                "scanId": str(scan.pk),
                "retriedServices": outcome.services,
                "totalRetriedServices": len(outcome.services),
                "round": outcome.round,
                "message": f"Successfully initiated retry for {len(outcome.services)} services",
            },
            status=status.HTTP_202_ACCEPTED,
        )


class ScanCancelApi(APIView):
    """Cancel a scan (tenant admins): services not started never run, running ones stop; the scan ends
    `cancelled` once nothing runs. 202 with the scan; 200 when it was cancelled already; 409 when it
    had finished."""

    permission_classes = [IsTenantAdmin]

    @extend_schema(
        request=None,
        responses={
            202: ScanSerializer,
            200: ScanSerializer,
            409: error_response(409, "The scan had finished (`scan_finished`)."),
        },
    )
    def post(self, request: Request, scan_id: Any) -> Response:
        scan = selectors.scan_get(user=user_of(request), scan_id=scan_id)
        outcome = services.scan_cancel(scan=scan, actor=user_of(request))
        body = scan_out(selectors.scan_get(user=user_of(request), scan_id=scan_id))
        return Response(body, status=status.HTTP_200_OK if outcome.already else status.HTTP_202_ACCEPTED)


class ScanRetryStatusApi(APIView):
    permission_classes = [IsTenantUser]

    @extend_schema(responses={200: RetryStatusSerializer})
    def get(self, request: Request, scan_id: Any) -> Response:
        scan = selectors.scan_get(user=user_of(request), scan_id=scan_id)
        return Response(selectors.retry_status(scan=scan))


class ScanServicesApi(APIView):
    """The installed scan services, and whether the provider-backed ones are configured."""

    permission_classes = [IsTenantUser]

    @extend_schema(responses={200: ServiceInfoSerializer(many=True)})
    def get(self, request: Request) -> Response:
        settings = conf.check_settings()
        return Response(
            [
                {
                    "name": s.name,
                    "description": s.description,
                    "needsProvider": s.needs_provider,
                    "configured": s.configured(settings),
                }
                for s in checks.all_services()
            ]
        )


async def scan_events(request: HttpRequest, scan_id: Any) -> HttpResponseBase:
    """`GET /api/scans/<id>/events`: the scan's events over SSE (replay from `Last-Event-ID`, then live)."""
    return await object_event_stream(request, queryset=Scan.objects.all(), pk=scan_id)
