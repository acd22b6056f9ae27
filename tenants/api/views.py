from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import ApplicationError

from .. import fair_share, services
from ..auth import user_of
from ..models import Tenant, User
from ..permissions import IsPlatformAdmin, IsTenantAdmin, IsTenantUser
from ..selectors import acting_tenant, get_scoped, scoped
from ..throttles import LoginAddressThrottle, LoginUsernameThrottle
from .serializers import (
    FairShareOutSerializer,
    FairShareSerializer,
    LoginSerializer,
    TenantSerializer,
    TokenSerializer,
    UserCreateSerializer,
    UserSerializer,
)


class LoginApi(APIView):
    """Exchange a username and password for an expiring API token (stored hashed)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [LoginAddressThrottle, LoginUsernameThrottle]

    @extend_schema(request=LoginSerializer, responses={200: TokenSerializer})
    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request, **serializer.validated_data)
        if user is None:
            raise ApplicationError("Wrong username or password.", code="invalid_credentials", status=400)
        instance, token = services.token_issue(user=user)
        return Response({"token": token, "expiry": instance.expiry, "user": UserSerializer(user).data})


class LogoutApi(APIView):
    """Revoke the token this request was made with."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, AuthToken):
            request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)


class TenantListApi(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(responses={200: TenantSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(TenantSerializer(Tenant.objects.all(), many=True).data)

    @extend_schema(request=TenantSerializer, responses={201: TenantSerializer})
    def post(self, request: Request) -> Response:
        serializer = TenantSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tenant = services.tenant_create(**serializer.validated_data)
        return Response(TenantSerializer(tenant).data, status=status.HTTP_201_CREATED)


class TenantFairShareApi(APIView):
    """A tenant's share of the workers: its cap on running jobs (platform admins)."""

    permission_classes = [IsPlatformAdmin]

    def _tenant(self, tenant_id: str) -> Tenant:
        try:
            return Tenant.objects.get(pk=tenant_id)
        except (Tenant.DoesNotExist, ValueError, DjangoValidationError) as exc:
            raise Http404 from exc

    @extend_schema(responses={200: FairShareOutSerializer})
    def get(self, request: Request, tenant_id: str) -> Response:
        return Response(fair_share.tenant_max_running(self._tenant(tenant_id)))

    @extend_schema(request=FairShareSerializer, responses={200: FairShareOutSerializer})
    def put(self, request: Request, tenant_id: str) -> Response:
        tenant = self._tenant(tenant_id)
        serializer = FairShareSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(
            fair_share.tenant_max_running_set(
                tenant=tenant, max_running=serializer.validated_data["maxRunningJobs"], actor=user_of(request)
            )
        )


class UserListApi(APIView):
    """Users of the caller's tenant. Tenant admins manage them; members may only look at themselves."""

    permission_classes = [IsTenantAdmin]

    @extend_schema(responses={200: UserSerializer(many=True)})
    def get(self, request: Request) -> Response:
        users = scoped(User.objects.order_by("id"), user=user_of(request))
        return Response(UserSerializer(users, many=True).data)

    @extend_schema(request=UserCreateSerializer, responses={201: UserSerializer})
    def post(self, request: Request) -> Response:
        serializer = UserCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tenant = acting_tenant(user=user_of(request), tenant_id=data.pop("tenant", None))
        user = services.user_create(tenant=tenant, **data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class UserDetailApi(APIView):
    permission_classes = [IsTenantUser]

    @extend_schema(responses={200: UserSerializer})
    def get(self, request: Request, user_id: int) -> Response:
        user = get_scoped(User.objects.all(), user=user_of(request), pk=user_id)
        if user != request.user and not user_of(request).is_tenant_admin:
            raise ApplicationError("Only tenant admins may look at other users.", code="permission_denied", status=403)
        return Response(UserSerializer(user).data)
