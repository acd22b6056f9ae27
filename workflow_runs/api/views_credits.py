from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import idempotency
from tenants.auth import user_of
from tenants.permissions import IsPlatformAdmin, IsTenantUser
from tenants.selectors import acting_tenant

from ..models import CreditLedgerEntry
from ..selectors import credit_account_get
from ..services.credits import credits_grant
from .serializers import CreditBalanceSerializer, CreditGrantSerializer, LedgerEntrySerializer


class _BalanceQuery(serializers.Serializer):
    tenant = serializers.UUIDField(required=False, help_text="Platform admins: the tenant.")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100, help_text="Ledger entries to return.")


def _balance(tenant_id: UUID, limit: int) -> dict[str, object]:
    account = credit_account_get(tenant_id=tenant_id)
    ledger = CreditLedgerEntry.objects.filter(tenant_id=tenant_id).order_by("-id")[:limit]
    return {
        "tenant": tenant_id,
        "monthly": account.monthly_balance,
        "purchased": account.purchased_balance,
        "total": account.total,
        "ledger": LedgerEntrySerializer(ledger, many=True).data,
    }


class CreditBalanceApi(APIView):
    permission_classes = [IsTenantUser]

    @extend_schema(
        parameters=[_BalanceQuery],
        responses={200: CreditBalanceSerializer},
    )
    def get(self, request: Request) -> Response:
        """The tenant's monthly and purchased balances and its latest ledger entries."""
        query = _BalanceQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        tenant = acting_tenant(user=user_of(request), tenant_id=query.validated_data.get("tenant"))
        return Response(_balance(tenant.pk, query.validated_data["limit"]))


class CreditGrantApi(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        request=CreditGrantSerializer,
        parameters=[idempotency.PARAMETER],
        responses={201: CreditBalanceSerializer, **idempotency.RESPONSES},
    )
    @idempotency.idempotent
    def post(self, request: Request) -> Response:
        """Add monthly or purchased credits to a tenant (a ledger entry per grant)."""
        serializer = CreditGrantSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        tenant = acting_tenant(user=user_of(request), tenant_id=data.pop("tenant"))
        credits_grant(tenant=tenant, actor=user_of(request), **data)
        return Response(_balance(tenant.pk, 20), status=status.HTTP_201_CREATED)
