from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import idempotency
from core.exceptions import ApplicationError
from core.pagination import BoundedPagination
from tenants.auth import user_of
from tenants.permissions import IsTenantAdmin, IsTenantUser
from tenants.selectors import acting_tenant

from ..models import Template
from ..selectors import run_files, run_get, run_summaries
from ..services.cancel import workflow_run_cancel
from ..services.retry import workflow_run_retry_failed
from ..services.runs import workflow_run_start
from .presenters import file_rows, run_detail, summary_body
from .serializers import (
    RetryResultSerializer,
    RunDetailSerializer,
    RunFileSerializer,
    RunFilesQuerySerializer,
    RunStartSerializer,
    RunSummarySerializer,
)


class RunListApi(APIView):
    pagination_class = BoundedPagination
    parser_classes = [MultiPartParser, FormParser]

    permission_classes = [IsTenantUser]

    @extend_schema(responses={200: RunSummarySerializer(many=True)})
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(run_summaries(user=user_of(request)), request, view=self)
        return paginator.get_paginated_response([summary_body(row) for row in page or []])

    @extend_schema(
        request={"multipart/form-data": RunStartSerializer},
        parameters=[idempotency.PARAMETER],
        responses={
            201: RunDetailSerializer,
            402: OpenApiResponse(description="Not enough credits for every file."),
            **idempotency.RESPONSES,
        },
    )
    @idempotency.idempotent
    def post(self, request: Request) -> Response:
        """Start a run of a template over the uploaded files; reserves files x the platform price, all or nothing."""
        serializer = RunStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tenant = acting_tenant(user=user_of(request), tenant_id=data.get("tenant"))
        template = Template.objects.filter(pk=data["template"]).first()
        if template is None or template.tenant_id not in (None, tenant.pk):
            raise ApplicationError("Unknown template.", fields={"template": ["No such template."]})
        run = workflow_run_start(
            tenant=tenant,
            actor=user_of(request),
            template=template,
            uploads=data["files"],
            mode=data["mode"],
            max_retry_count=data["max_retry_count"],
        )
        run = run_get(user=user_of(request), run_id=run.pk)
        return Response(run_detail(run, user=user_of(request)), status=status.HTTP_201_CREATED)


class RunDetailApi(APIView):
    permission_classes = [IsTenantUser]

    @extend_schema(responses={200: RunDetailSerializer})
    def get(self, request: Request, run_id: str) -> Response:
        """Per-file status, round counters, credits consumed and whether Continue is possible."""
        return Response(run_detail(run_get(user=user_of(request), run_id=run_id), user=user_of(request)))


class RunFilesApi(APIView):
    pagination_class = BoundedPagination
    permission_classes = [IsTenantUser]

    @extend_schema(parameters=[RunFilesQuerySerializer], responses={200: RunFileSerializer(many=True)})
    def get(self, request: Request, run_id: str) -> Response:
        """The run's files in index order, paged (`limit`, `offset`), optionally of one `status`."""
        run = run_get(user=user_of(request), run_id=run_id)
        query = RunFilesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(run_files(run=run, status=query.validated_data.get("status")), request, self)
        return paginator.get_paginated_response(file_rows(page or []))


class RunCancelApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(
        request=None,
        responses={
            202: RunDetailSerializer,
            200: RunDetailSerializer,
            409: OpenApiResponse(description="The run is not running."),
        },
    )
    def post(self, request: Request, run_id: str) -> Response:
        """Cancel a running run: queued files never run and are refunded; 200 when cancelled already."""
        result = workflow_run_cancel(run_id=run_id, actor=user_of(request))
        body = run_detail(run_get(user=user_of(request), run_id=result.run.pk), user=user_of(request))
        return Response(body, status=status.HTTP_200_OK if result.already else status.HTTP_202_ACCEPTED)


class RunRetryFailedApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(
        request=None,
        parameters=[idempotency.PARAMETER],
        responses={
            200: RetryResultSerializer,
            400: OpenApiResponse(description="Completed run, nothing to retry, or max retry count reached."),
            402: OpenApiResponse(description="Not enough credits for every failed file."),
            409: OpenApiResponse(description="The run is running, or a request with this Idempotency-Key is."),
            422: idempotency.RESPONSES[422],
        },
    )
    @idempotency.idempotent
    def post(self, request: Request, run_id: str) -> Response:
        """Continue: retry the failed files (reserved at the run's price) and pending files (free); error files stay."""
        result = workflow_run_retry_failed(run_id=run_id, actor=user_of(request))
        run = run_get(user=user_of(request), run_id=result.run.pk)
        body = run_detail(run, user=user_of(request))
        body.update(
            creditsReservedByContinue={
                "monthly": result.reserved.monthly,
                "purchased": result.reserved.purchased,
                "total": result.reserved.total,
            },
            retriedFiles=result.retried,
            reservedFiles=result.reserved_files,
        )
        return Response(body)
