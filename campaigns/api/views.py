"""Campaign endpoints: serializer in, one service, serializer out."""

from __future__ import annotations

from typing import Any

from django.http import Http404, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import idempotency
from core.exceptions import Conflict
from core.pagination import BoundedPagination
from core.schema import error_response
from tenants.auth import user_of
from tenants.permissions import IsPlatformAdmin, IsTenantAdmin, IsTenantUser
from tenants.selectors import acting_tenant, get_scoped

from .. import selectors
from ..models import Campaign, CampaignReport, PhaseConfig
from ..phase_configs import AnalysisConfig, DnsValidationConfig, DomainGenerationConfig, HttpKeywordValidationConfig
from ..phases import PHASES
from ..reports import report_csv_stream
from ..services import campaigns as campaign_services
from ..services import phases as phase_services
from ..services.cancel import campaign_cancel
from .presenters import campaign_summaries
from .serializers import (
    CampaignCreateSerializer,
    CampaignSerializer,
    CampaignSettingsSerializer,
    CampaignSummarySerializer,
    CampaignUpdateSerializer,
    DomainPageParams,
    DomainPageSerializer,
    DomainResultSerializer,
    ModeSerializer,
    PhaseConfigSerializer,
    PhaseStartSerializer,
)


def campaign_for(request: Request, campaign_id: Any) -> Campaign:
    return get_scoped(Campaign.objects.select_related("tenant"), user=user_of(request), pk=campaign_id)


def checked_phase(phase: str) -> str:
    if phase not in PHASES:
        raise Http404
    return phase


def campaign_out(campaign: Campaign) -> dict[str, Any]:
    """The campaign as the API shows it; `campaign` must be fresh (the phase views re-read theirs)."""
    return CampaignSerializer(
        {**CampaignSummarySerializer(campaign).data, **selectors.campaign_pipeline(campaign=campaign)}
    ).data


class CampaignListApi(APIView):
    pagination_class = BoundedPagination
    permission_classes = [IsTenantUser]

    @extend_schema(responses={200: CampaignSummarySerializer(many=True)})
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        rows = selectors.campaign_summary_rows(user=user_of(request))
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(campaign_summaries(page or []))

    @extend_schema(request=CampaignCreateSerializer, responses={201: CampaignSerializer})
    def post(self, request: Request) -> Response:
        serializer = CampaignCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tenant = acting_tenant(user=user_of(request), tenant_id=data.get("tenant"))
        campaign = campaign_services.campaign_create(
            tenant=tenant, name=data["name"], mode=data.get("mode"), actor=user_of(request)
        )
        return Response(campaign_out(campaign), status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    """A campaign. Deleting it (and all its results and history) takes a tenant admin."""

    def get_permissions(self) -> list[Any]:
        return [IsTenantAdmin()] if self.request.method == "DELETE" else [IsTenantUser()]

    @extend_schema(responses={200: CampaignSerializer})
    def get(self, request: Request, campaign_id: Any) -> Response:
        return Response(campaign_out(campaign_for(request, campaign_id)))

    @extend_schema(request=CampaignUpdateSerializer, responses={200: CampaignSerializer})
    def patch(self, request: Request, campaign_id: Any) -> Response:
        campaign = campaign_for(request, campaign_id)
        serializer = CampaignUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = campaign_services.campaign_update(campaign=campaign, name=serializer.validated_data["name"])
        return Response(campaign_out(campaign))

    @extend_schema(responses={204: None, 409: None})
    def delete(self, request: Request, campaign_id: Any) -> Response:
        campaign_services.campaign_delete(campaign=campaign_for(request, campaign_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CampaignModeApi(APIView):
    permission_classes = [IsTenantUser]

    @extend_schema(request=ModeSerializer, responses={200: CampaignSerializer})
    def patch(self, request: Request, campaign_id: Any) -> Response:
        campaign = campaign_for(request, campaign_id)
        serializer = ModeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = campaign_services.campaign_set_mode(
            campaign=campaign, mode=serializer.validated_data["mode"], actor=user_of(request)
        )
        return Response(campaign_out(campaign))


def config_out(row: PhaseConfig) -> dict[str, Any]:
    return PhaseConfigSerializer({"phase": row.phase, "config": row.config, "updatedAt": row.updated_at}).data


# An unknown phase is a 404 (`checked_phase`).
PHASE_PARAMETER = OpenApiParameter("phase", str, OpenApiParameter.PATH, enum=list(PHASES))
PHASE_CONFIG_REQUEST = PolymorphicProxySerializer(
    component_name="PhaseConfigBody",
    serializers=[DomainGenerationConfig, DnsValidationConfig, HttpKeywordValidationConfig, AnalysisConfig],
    resource_type_field_name=None,
    many=False,
)
CONFIG_FROZEN = error_response(409, "The phase runs or is paused: its config is frozen (`phase_config_frozen`).")


@extend_schema(parameters=[PHASE_PARAMETER])
class PhaseConfigApi(APIView):
    """A phase's stored config. PUT takes the config of that phase (one of the four shapes) and validates
    it (400 with field-level messages); 409 while the phase is running or paused (a started phase runs
    the snapshot taken at its first start)."""

    permission_classes = [IsTenantUser]

    @extend_schema(responses={200: PhaseConfigSerializer})
    def get(self, request: Request, campaign_id: Any, phase: str) -> Response:
        campaign = campaign_for(request, campaign_id)
        row = PhaseConfig.objects.filter(campaign=campaign, phase=checked_phase(phase)).first()
        if row is None:
            raise Http404
        return Response(config_out(row))

    @extend_schema(request=PHASE_CONFIG_REQUEST, responses={200: PhaseConfigSerializer, 409: CONFIG_FROZEN})
    def put(self, request: Request, campaign_id: Any, phase: str) -> Response:
        campaign = campaign_for(request, campaign_id)
        row = campaign_services.phase_config_set(campaign=campaign, phase=checked_phase(phase), data=request.data)
        return Response(config_out(row))

    @extend_schema(responses={204: None, 409: CONFIG_FROZEN})
    def delete(self, request: Request, campaign_id: Any, phase: str) -> Response:
        campaign = campaign_for(request, campaign_id)
        campaign_services.phase_config_delete(campaign=campaign, phase=checked_phase(phase))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[PHASE_PARAMETER])
class PhaseStartApi(APIView):
    """Start a phase, or retry it after it failed. 409: another phase runs, a failed phase must be
    retried first (`retryPhase`), the previous phase has not completed (`requiredPhase`), or configs
    are missing (`missingPhases`; in full_sequence every phase from this one on is checked). A retry
    runs the rest of the config the phase first started with, unless `{"restart": true}`. 403
    `admin_required` (with `phaseDomains`, `memberMaxPhaseDomains`): a tenant member may start, retry
    or resume only phases of at most `RELAY_MEMBER_MAX_PHASE_DOMAINS` domains."""

    permission_classes = [IsTenantUser]

    @extend_schema(
        request=PhaseStartSerializer,
        parameters=[idempotency.PARAMETER],
        responses={
            202: CampaignSerializer,
            409: idempotency.RESPONSES[409],
            422: idempotency.RESPONSES[422],
        },
    )
    @idempotency.idempotent
    def post(self, request: Request, campaign_id: Any, phase: str) -> Response:
        campaign = campaign_for(request, campaign_id)
        serializer = PhaseStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        phase_services.phase_start(
            campaign=campaign,
            phase=checked_phase(phase),
            actor=user_of(request),
            restart=serializer.validated_data["restart"],
        )
        campaign.refresh_from_db()
        return Response(campaign_out(campaign), status=status.HTTP_202_ACCEPTED)


@extend_schema(parameters=[PHASE_PARAMETER])
class PhasePauseApi(APIView):
    permission_classes = [IsTenantUser]

    @extend_schema(request=None, responses={200: CampaignSerializer, 409: None})
    def post(self, request: Request, campaign_id: Any, phase: str) -> Response:
        campaign = campaign_for(request, campaign_id)
        phase_services.phase_pause(campaign=campaign, phase=checked_phase(phase), actor=user_of(request))
        campaign.refresh_from_db()
        return Response(campaign_out(campaign))


@extend_schema(parameters=[PHASE_PARAMETER])
class PhaseResumeApi(APIView):
    permission_classes = [IsTenantUser]

    @extend_schema(request=None, responses={200: CampaignSerializer, 409: None})
    def post(self, request: Request, campaign_id: Any, phase: str) -> Response:
        campaign = campaign_for(request, campaign_id)
        phase_services.phase_resume(campaign=campaign, phase=checked_phase(phase), actor=user_of(request))
        campaign.refresh_from_db()
        return Response(campaign_out(campaign))


class CampaignCancelApi(APIView):
    """Cancel the campaign (tenant admins): batches not started never run, running ones finish their
    batch, nothing further starts; `cancelled` once nothing runs. 202; 200 when cancelled already;
    409 when it has completed."""

    permission_classes = [IsTenantAdmin]

    @extend_schema(request=None, responses={202: CampaignSerializer, 200: CampaignSerializer, 409: None})
    def post(self, request: Request, campaign_id: Any) -> Response:
        campaign = campaign_for(request, campaign_id)
        result = campaign_cancel(campaign=campaign, actor=user_of(request))
        campaign.refresh_from_db()
        return Response(
            campaign_out(campaign), status=status.HTTP_200_OK if result.already else status.HTTP_202_ACCEPTED
        )


class CampaignDomainsApi(APIView):
    """Domains with their DNS, HTTP and score results, in `seq` order; page with `after` (the last seq seen)."""

    permission_classes = [IsTenantUser]

    @extend_schema(
        parameters=[DomainPageParams],
        responses={200: DomainPageSerializer},
    )
    def get(self, request: Request, campaign_id: Any) -> Response:
        campaign = campaign_for(request, campaign_id)
        params = DomainPageParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows = selectors.domain_page(
            campaign=campaign, after=params.validated_data["after"], limit=params.validated_data["limit"]
        )
        return Response(
            {
                "results": DomainResultSerializer(rows, many=True).data,
                "next": rows[-1]["seq"] if len(rows) == params.validated_data["limit"] else None,
            }
        )


def report_not_ready() -> Conflict:
    # The campaign exists (a 404 would say it does not): its report is written when analysis completes.
    return Conflict("The campaign has no report yet: its analysis phase has not completed.", code="report_not_ready")


REPORT_NOT_READY = error_response(409, "No report yet (`report_not_ready`): analysis has not completed.")


class CampaignReportApi(APIView):
    permission_classes = [IsTenantUser]

    @extend_schema(responses={200: dict, 409: REPORT_NOT_READY})
    def get(self, request: Request, campaign_id: Any) -> Response:
        campaign = campaign_for(request, campaign_id)
        report = CampaignReport.objects.filter(campaign=campaign).first()
        if report is None:
            raise report_not_ready()
        response = Response(report.report)
        if request.query_params.get("download"):
            response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-report.json"'
        return response


class CampaignReportCsvApi(APIView):
    """Every scored domain, best first, streamed as CSV (from an async iterator: under ASGI each page is
    sent as it is read; cells a spreadsheet would run as formulas are escaped)."""

    permission_classes = [IsTenantUser]

    @extend_schema(responses={(200, "text/csv"): str, 409: REPORT_NOT_READY})
    def get(self, request: Request, campaign_id: Any) -> StreamingHttpResponse:
        campaign = campaign_for(request, campaign_id)
        if not CampaignReport.objects.filter(campaign=campaign).exists():
            raise report_not_ready()
        response = StreamingHttpResponse(report_csv_stream(campaign=campaign), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-leads.csv"'
        return response


class CampaignSettingsApi(APIView):
    """Runtime settings of the campaigns app (auto-resume on restart). Platform admins change them."""

    def get_permissions(self) -> list[Any]:
        return [IsPlatformAdmin()] if self.request.method == "PATCH" else [IsTenantUser()]

    @extend_schema(responses={200: CampaignSettingsSerializer})
    def get(self, request: Request) -> Response:
        return Response(CampaignSettingsSerializer(selectors.campaign_settings()).data)

    @extend_schema(request=CampaignSettingsSerializer, responses={200: CampaignSettingsSerializer})
    def patch(self, request: Request) -> Response:
        serializer = CampaignSettingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        settings = campaign_services.campaign_settings_update(**serializer.validated_data)
        return Response(CampaignSettingsSerializer(settings).data)
