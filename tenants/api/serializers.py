from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from ..models import Role, Tenant, User


class TenantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "created_at"]


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "role", "tenant"]


class UserCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(min_length=8, max_length=128, write_only=True)
    email = serializers.EmailField(required=False, default="")
    role = serializers.ChoiceField(choices=[Role.TENANT_MEMBER, Role.TENANT_ADMIN], default=Role.TENANT_MEMBER)
    tenant = serializers.UUIDField(required=False, help_text="Platform admins only: the tenant to add to.")

    def validate_username(self, value: str) -> str:
        if User.objects.filter(username=value).exists():
            raise serializers.ValidationError("This username is taken.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Django's validators (length, common passwords, all digits, too close to the username/email).
        candidate = User(username=attrs.get("username", ""), email=attrs.get("email", ""))
        try:
            validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, write_only=True)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    expiry = serializers.DateTimeField(allow_null=True)
    user = UserSerializer()


class FairShareSerializer(serializers.Serializer):
    maxRunningJobs = serializers.IntegerField(
        min_value=0,
        max_value=100_000,
        allow_null=True,
        help_text="Jobs of this tenant running at once across all workers; 0 holds its work; null: the default.",
    )


class FairShareOutSerializer(serializers.Serializer):
    maxRunningJobs = serializers.IntegerField()
    default = serializers.IntegerField()
