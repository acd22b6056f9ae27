from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from core import egress

from .. import checks
from ..conf import DEFAULT_SERVICES, MAX_ATTEMPTS_LIMIT
from ..models import Scan
from .presenters import scan_out


class ServiceNameField(serializers.CharField):
    """A scan service's name (the schema lists the installed ones; see `ServiceNameSchema`)."""


class ServiceNameSchema(OpenApiSerializerFieldExtension):
    target_class = ServiceNameField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {"type": "string", "enum": sorted(checks.names())}


class ScanCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    keywords = serializers.ListField(
        child=serializers.CharField(max_length=100, trim_whitespace=True), max_length=50, required=False, default=list
    )
    services = serializers.ListField(
        child=ServiceNameField(max_length=64),
        allow_empty=False,
        min_length=1,
        max_length=20,
        required=False,
        default=lambda: list(DEFAULT_SERVICES),
        help_text="Scan services to run; defaults to the ones needing no provider.",
    )
    max_attempts = serializers.IntegerField(min_value=1, max_value=MAX_ATTEMPTS_LIMIT, default=2)
    tenant = serializers.UUIDField(required=False, help_text="Platform admins only: the tenant to scan for.")

    def validate_url(self, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Only http:// and https:// URLs can be scanned.")
        try:
            egress.check_url(value)
        except egress.EgressDenied as exc:
            raise serializers.ValidationError(f"This address is not allowed ({exc.rule}).") from None
        return value

    def validate_services(self, value: list[str]) -> list[str]:
        known = set(checks.names())
        unknown = [name for name in value if name not in known]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown services: {', '.join(unknown)}. Available: {', '.join(sorted(known))}."
            )
        return list(dict.fromkeys(value))


class ScanRetrySerializer(serializers.Serializer):
    services = serializers.ListField(
        child=ServiceNameField(max_length=64),
        allow_empty=False,
        min_length=1,
        max_length=20,
        required=False,
        help_text="Omit to retry every retryable failed service.",
    )


# The scan API speaks camelCase (as the reference's clients do).
class RetryMetadataSerializer(serializers.Serializer):
    attempts = serializers.IntegerField()
    maxAttempts = serializers.IntegerField()
    canRetry = serializers.BooleanField()


class ServiceRetryStatusSerializer(RetryMetadataSerializer):
    status = serializers.CharField()


class RetryStatusSerializer(serializers.Serializer):
    scanId = serializers.UUIDField()
    status = serializers.CharField()
    hasRetryableServices = serializers.BooleanField()
    retryableServices = serializers.ListField(child=serializers.CharField())
    failedServices = serializers.ListField(child=serializers.CharField())
    retryMetadata = serializers.DictField(child=ServiceRetryStatusSerializer())


class RetryAcceptedSerializer(serializers.Serializer):
    scanId = serializers.UUIDField()
    retriedServices = serializers.ListField(child=serializers.CharField())
    totalRetriedServices = serializers.IntegerField()
    round = serializers.IntegerField()
    message = serializers.CharField()


class ScanSerializer(serializers.Serializer):
    """The shape `presenters.scan_body` produces (for the OpenAPI schema; the views answer the body itself)."""

    id = serializers.UUIDField()
    tenant = serializers.UUIDField()
    url = serializers.URLField()
    keywords = serializers.ListField(child=serializers.CharField())
    status = serializers.CharField()
    maxAttempts = serializers.IntegerField()
    priority = serializers.ChoiceField(
        choices=["interactive", "bulk"],
        allow_null=True,
        help_text="Claim lane: interactive work is claimed before bulk; tenants share each lane fairly.",
    )
    createdAt = serializers.DateTimeField()
    startedAt = serializers.DateTimeField(allow_null=True)
    finishedAt = serializers.DateTimeField(allow_null=True)
    services = serializers.DictField(help_text="Per service: status, result, executionTimeMs, error, retry.")
    summary = serializers.DictField()

    def to_representation(self, instance: Scan) -> dict[str, Any]:
        return serializers.Serializer.to_representation(self, scan_out(instance))


class ServiceInfoSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    needsProvider = serializers.BooleanField()
    configured = serializers.BooleanField()
