from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import BoundedPagination
from tenants.auth import user_of
from tenants.permissions import IsTenantAdmin, IsTenantUser
from tenants.selectors import acting_tenant

from ..selectors import price_table, template_get, templates_visible
from ..services import templates as services
from .serializers import TemplateSerializer, TemplateUpdateSerializer, TemplateWriteSerializer


def _context(request: Request) -> dict[str, object]:
    """The prices shown with templates: the caller's plan (the default prices for platform admins)."""
    return {"prices": price_table(tenant_id=user_of(request).tenant_id)}


class TemplateListApi(APIView):
    """Live templates: the tenant's own and the platform-wide ones. Tenant admins create them."""

    pagination_class = BoundedPagination

    def get_permissions(self) -> list[BasePermission]:
        return [IsTenantAdmin()] if self.request.method == "POST" else [IsTenantUser()]

    @extend_schema(responses={200: TemplateSerializer(many=True)})
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(templates_visible(user=user_of(request)), request, view=self)
        return paginator.get_paginated_response(TemplateSerializer(page, many=True, context=_context(request)).data)

    @extend_schema(request=TemplateWriteSerializer, responses={201: TemplateSerializer})
    def post(self, request: Request) -> Response:
        serializer = TemplateWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        tenant_id = data.pop("tenant", None)
        tenant = (
            acting_tenant(user=user_of(request), tenant_id=tenant_id)
            if (tenant_id or not user_of(request).is_platform_admin)
            else None
        )
        template = services.template_create(tenant=tenant, actor=user_of(request), **data)
        return Response(TemplateSerializer(template, context=_context(request)).data, status=status.HTTP_201_CREATED)


class TemplateDetailApi(APIView):
    def get_permissions(self) -> list[BasePermission]:
        return [IsTenantUser()] if self.request.method == "GET" else [IsTenantAdmin()]

    @extend_schema(responses={200: TemplateSerializer})
    def get(self, request: Request, template_id: str) -> Response:
        return Response(
            TemplateSerializer(
                template_get(user=user_of(request), template_id=template_id), context=_context(request)
            ).data
        )

    @extend_schema(request=TemplateUpdateSerializer, responses={200: TemplateSerializer})
    def patch(self, request: Request, template_id: str) -> Response:
        template = template_get(user=user_of(request), template_id=template_id)
        serializer = TemplateUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = services.template_update(template=template, actor=user_of(request), **serializer.validated_data)
        return Response(TemplateSerializer(template, context=_context(request)).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, template_id: str) -> Response:
        """Archive (soft delete): hidden from listings and new runs; old runs keep it."""
        template = template_get(user=user_of(request), template_id=template_id)
        services.template_archive(template=template, actor=user_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
