"""Personas (DNS, HTTP) and proxies: list/create and detail endpoints over the same generic shape.
Members read; tenant admins write (proxies may carry credentials)."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import ModelSerializer
from rest_framework.views import APIView

from core.pagination import BoundedPagination
from core.schema import error_response
from tenants.auth import user_of
from tenants.permissions import IsTenantAdmin, IsTenantUser
from tenants.selectors import acting_tenant, get_scoped, scoped

from ..models import DnsPersona, HttpPersona, Proxy
from ..services import personas as services
from .serializers import DnsPersonaSerializer, HttpPersonaSerializer, ProxySerializer


class _OwnedListApi(APIView):
    pagination_class = BoundedPagination
    model: type[Model]
    serializer_class: type[ModelSerializer]

    def get_permissions(self) -> list[Any]:
        return [IsTenantUser()] if self.request.method == "GET" else [IsTenantAdmin()]

    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            scoped(self.model._default_manager.all(), user=user_of(request)), request, view=self
        )
        return paginator.get_paginated_response(self.serializer_class(page, many=True).data)

    def post(self, request: Request) -> Response:
        serializer = self.serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        tenant = acting_tenant(user=user_of(request), tenant_id=request.data.get("tenant"))
        instance = services.owned_create(model=self.model, tenant=tenant, data=dict(serializer.validated_data))
        return Response(self.serializer_class(instance).data, status=status.HTTP_201_CREATED)


class _OwnedDetailApi(APIView):
    model: type[Model]
    serializer_class: type[ModelSerializer]
    config_key = "personaIds"

    def get_permissions(self) -> list[Any]:
        return [IsTenantUser()] if self.request.method == "GET" else [IsTenantAdmin()]

    def _object(self, request: Request, object_id: Any) -> Model:
        return get_scoped(self.model._default_manager.all(), user=user_of(request), pk=object_id)

    def get(self, request: Request, object_id: Any) -> Response:
        return Response(self.serializer_class(self._object(request, object_id)).data)

    def patch(self, request: Request, object_id: Any) -> Response:
        instance = self._object(request, object_id)
        serializer = self.serializer_class(instance, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        instance = services.owned_update(instance=instance, data=dict(serializer.validated_data))
        return Response(self.serializer_class(instance).data)

    def delete(self, request: Request, object_id: Any) -> Response:
        services.owned_delete(instance=self._object(request, object_id), config_key=self.config_key)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _list_schema(serializer: type[ModelSerializer], tag: str) -> Any:
    return extend_schema_view(
        get=extend_schema(tags=[tag], responses=serializer(many=True)),
        post=extend_schema(tags=[tag], request=serializer, responses={201: serializer}),
    )


def _detail_schema(serializer: type[ModelSerializer], tag: str) -> Any:
    return extend_schema_view(
        get=extend_schema(tags=[tag], responses=serializer),
        patch=extend_schema(tags=[tag], request=serializer, responses=serializer),
        delete=extend_schema(
            tags=[tag],
            responses={204: None, 409: error_response(409, "A phase config still names it (`in_use`, `campaigns`).")},
        ),
    )


@_list_schema(DnsPersonaSerializer, "personas")
class DnsPersonaListApi(_OwnedListApi):
    model, serializer_class = DnsPersona, DnsPersonaSerializer


@_detail_schema(DnsPersonaSerializer, "personas")
class DnsPersonaDetailApi(_OwnedDetailApi):
    model, serializer_class = DnsPersona, DnsPersonaSerializer


@_list_schema(HttpPersonaSerializer, "personas")
class HttpPersonaListApi(_OwnedListApi):
    model, serializer_class = HttpPersona, HttpPersonaSerializer


@_detail_schema(HttpPersonaSerializer, "personas")
class HttpPersonaDetailApi(_OwnedDetailApi):
    model, serializer_class = HttpPersona, HttpPersonaSerializer


@_list_schema(ProxySerializer, "proxies")
class ProxyListApi(_OwnedListApi):
    model, serializer_class = Proxy, ProxySerializer


@_detail_schema(ProxySerializer, "proxies")
class ProxyDetailApi(_OwnedDetailApi):
    model, serializer_class = Proxy, ProxySerializer
    config_key = "proxyId"
