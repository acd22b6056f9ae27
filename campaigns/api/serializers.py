import ipaddress
import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core import egress

from .. import persona_limits as limits
from ..models import Campaign, CampaignMode, DnsPersona, HttpPersona, Proxy

QUERY_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "TXT")
# Any letter case (they are stored upper case).
QUERY_TYPE_PATTERN = "^(" + "|".join("".join(f"[{c}{c.lower()}]" for c in name) for name in QUERY_TYPES) + ")$"


class CampaignCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    mode = serializers.ChoiceField(choices=CampaignMode.choices, required=False)
    tenant = serializers.UUIDField(required=False, help_text="Platform admins only: the tenant it belongs to.")


class CampaignUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class ModeSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=CampaignMode.choices)


class PhaseStartSerializer(serializers.Serializer):
    restart = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Retry of a failed phase: discard its results and start it from scratch with its current "
        "config (without it, a retry runs what is left of the config the phase first started with).",
    )


class NextUserActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["retry_phase", "start_phase", "resume_phase", "none"])
    phase = serializers.CharField(allow_null=True)


class PhaseStateSerializer(serializers.Serializer):
    phase = serializers.CharField()
    status = serializers.CharField()
    configured = serializers.BooleanField()
    attempts = serializers.IntegerField()
    startedAt = serializers.DateTimeField(allow_null=True)
    completedAt = serializers.DateTimeField(allow_null=True)
    failedAt = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    pausedReason = serializers.CharField(allow_null=True)
    progress = serializers.DictField(allow_null=True)


class CampaignSerializer(serializers.Serializer):
    """A campaign with its derived pipeline state (`pipelineState` tells an idle pipeline, before the
    first start, from a paused one, after a failure or a pause)."""

    id = serializers.UUIDField()
    tenant = serializers.UUIDField()
    name = serializers.CharField()
    mode = serializers.ChoiceField(choices=CampaignMode.choices)
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    phases = PhaseStateSerializer(many=True, read_only=True)
    pipelineState = serializers.ChoiceField(
        choices=["idle", "running", "paused", "awaiting_start", "completed"], read_only=True
    )
    pausedReason = serializers.CharField(allow_null=True, read_only=True)
    lastFailedPhase = serializers.CharField(allow_null=True, read_only=True)
    retryEligiblePhases = serializers.ListField(child=serializers.CharField(), read_only=True)
    nextUserAction = NextUserActionSerializer(read_only=True)


class CampaignSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        fields = ["id", "tenant", "name", "mode", "status", "created_at", "updated_at"]


class PhaseConfigSerializer(serializers.Serializer):
    phase = serializers.CharField()
    config = serializers.DictField()
    updatedAt = serializers.DateTimeField()


class DomainResultSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    name = serializers.CharField()
    dns = serializers.DictField(allow_null=True)
    http = serializers.DictField(allow_null=True)
    score = serializers.DictField(allow_null=True)


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 100,
        "pattern": r"^[0-9A-Fa-f:.\[\]]+$",
        "description": "An IP address, or IPv4:port (the egress policy decides which are allowed).",
    }
)
class NameserverField(serializers.CharField):
    pass


@extend_schema_field({"type": "string", "pattern": QUERY_TYPE_PATTERN})
class QueryTypeField(serializers.CharField):
    pass


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": limits.HTTP_MAX_HEADERS,
        "propertyNames": {"maxLength": limits.HTTP_MAX_HEADER_NAME, "pattern": r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"},
        "additionalProperties": {
            "type": "string",
            "maxLength": limits.HTTP_MAX_HEADER_VALUE,
            "pattern": "^[\x20-\x7e\x80-\xff]*$",
        },
        "description": "Header names (RFC 9110 tokens) to values (visible characters and spaces).",
    }
)
class HeadersField(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "format": "uri",
        "maxLength": 500,
        "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+",
        "description": "http:// or https:// with a host (credentials in the URL if any); the egress policy "
        "decides which hosts are allowed.",
    }
)
class ProxyUrlField(serializers.CharField):
    pass


class DomainPageSerializer(serializers.Serializer):
    results = DomainResultSerializer(many=True)
    next = serializers.IntegerField(allow_null=True, help_text="The `after` of the next page; null on the last.")


class DnsPersonaSerializer(serializers.ModelSerializer):
    nameservers = serializers.ListField(
        child=NameserverField(max_length=100), min_length=1, max_length=limits.DNS_MAX_NAMESERVERS
    )
    query_types = serializers.ListField(
        child=QueryTypeField(max_length=8), max_length=limits.DNS_MAX_QUERY_TYPES, required=False
    )

    class Meta:
        model = DnsPersona
        fields = [
            "id",
            "tenant",
            "name",
            "nameservers",
            "query_types",
            "timeout_seconds",
            "retries",
            "concurrency",
            "rate_limit_per_second",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "tenant", "created_at", "updated_at"]
        extra_kwargs = limits.bounds_kwargs(limits.DNS)

    def validate_nameservers(self, value: list[str]) -> list[str]:
        if not value:
            raise serializers.ValidationError("At least one nameserver is needed.")
        if len(value) > limits.DNS_MAX_NAMESERVERS:
            raise serializers.ValidationError(f"At most {limits.DNS_MAX_NAMESERVERS} nameservers.")
        for server in value:
            host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
            try:
                ipaddress.ip_address(host or server)
                if port and not 0 < int(port) < 65536:
                    raise ValueError
            except ValueError:
                raise serializers.ValidationError(f"{server!r} is not an IP address or IP:port.") from None
            try:
                egress.check_nameserver(server)
            except egress.EgressDenied as exc:
                raise serializers.ValidationError(f"{server!r} is not allowed ({exc.rule}).") from None
        return value

    def validate_query_types(self, value: list[str]) -> list[str]:
        allowed = set(QUERY_TYPES)
        upper = list(dict.fromkeys(item.upper() for item in value)) or ["A"]
        bad = [item for item in upper if item not in allowed]
        if bad:
            raise serializers.ValidationError(f"Unsupported query types: {', '.join(bad)}.")
        return upper


class HttpPersonaSerializer(serializers.ModelSerializer):
    headers = HeadersField(required=False)

    class Meta:
        model = HttpPersona
        fields = [
            "id",
            "tenant",
            "name",
            "user_agent",
            "headers",
            "scheme",
            "port",
            "timeout_seconds",
            "max_redirects",
            "max_body_bytes",
            "concurrency",
            "rate_limit_per_second",
            "verify_tls",
            "address_family",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "tenant", "created_at", "updated_at"]
        extra_kwargs = limits.bounds_kwargs(limits.HTTP)

    def validate_headers(self, value: object) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise serializers.ValidationError("Must be an object of header names to string values.")
        if len(value) > limits.HTTP_MAX_HEADERS:
            raise serializers.ValidationError(f"At most {limits.HTTP_MAX_HEADERS} headers.")
        for name, text in value.items():
            if not _HEADER_NAME.fullmatch(name) or len(name) > limits.HTTP_MAX_HEADER_NAME:
                raise serializers.ValidationError(f"{name[:100]!r} is not a header name.")
            if len(text) > limits.HTTP_MAX_HEADER_VALUE or not _HEADER_VALUE.fullmatch(text):
                raise serializers.ValidationError(
                    f"The value of {name!r} must be at most {limits.HTTP_MAX_HEADER_VALUE} printable characters."
                )
        return value


# RFC 9110 token characters; values: visible characters and spaces (no CR/LF, no header injection).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\x20-\x7e\x80-\xff]*")


class ProxySerializer(serializers.ModelSerializer):
    # Credentials are write-only: `url` is never returned; `masked_url` shows it without them.
    url = ProxyUrlField(max_length=500, write_only=True)
    masked_url = serializers.CharField(read_only=True, help_text="The URL with its user and password as ***.")

    class Meta:
        model = Proxy
        fields = ["id", "tenant", "name", "url", "masked_url", "created_at", "updated_at"]
        read_only_fields = ["id", "tenant", "created_at", "updated_at"]
        extra_kwargs = {"url": {"write_only": True}}

    def validate_url(self, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise serializers.ValidationError("Must be an http:// or https:// proxy URL with a host.")
        try:
            egress.check_url(value)
        except egress.EgressDenied as exc:
            raise serializers.ValidationError(f"This proxy address is not allowed ({exc.rule}).") from None
        return value


class CampaignSettingsSerializer(serializers.Serializer):
    auto_resume_on_restart = serializers.BooleanField()


class DomainPageParams(serializers.Serializer):
    after = serializers.IntegerField(required=False, default=-1, min_value=-1, max_value=2**31 - 1)
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=1000)
