"""The platform's price list: every tenant user reads it, only platform admins write it."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import idempotency
from tenants.auth import user_of
from tenants.permissions import IsPlatformAdmin, IsTenantUser

from ..models import ProcessorPrice
from ..services.prices import price_set
from .serializers import PriceSerializer, PriceWriteSerializer


class PriceListApi(APIView):
    def get_permissions(self) -> list[BasePermission]:
        return [IsPlatformAdmin()] if self.request.method == "POST" else [IsTenantUser()]

    @extend_schema(responses={200: PriceSerializer(many=True)})
    def get(self, request: Request) -> Response:
        """Credits per file of each processor, per plan (blank plan: the default)."""
        return Response(PriceSerializer(ProcessorPrice.objects.all(), many=True).data)

    @extend_schema(
        request=PriceWriteSerializer,
        parameters=[idempotency.PARAMETER],
        responses={
            201: PriceSerializer,
            403: OpenApiResponse(description="Only platform admins set prices."),
            **idempotency.RESPONSES,
        },
    )
    @idempotency.idempotent
    def post(self, request: Request) -> Response:
        """Set the price of a processor for a plan (creates or changes it). Started runs keep their price."""
        serializer = PriceWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        price = price_set(actor=user_of(request), **serializer.validated_data)
        return Response(PriceSerializer(price).data, status=status.HTTP_201_CREATED)
