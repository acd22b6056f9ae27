from rest_framework import serializers

from ..models import Campaign, CampaignMode, DnsPersona, HttpPersona, Proxy


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
    action = serializers.ChoiceField(choices=["retry_phase", "start_phase", "none"])
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


class DnsPersonaSerializer(serializers.ModelSerializer):
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

    def validate_nameservers(self, value: list[str]) -> list[str]:
        import ipaddress

        if not value:
            raise serializers.ValidationError("At least one nameserver is needed.")
        for server in value:
            host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
            try:
                ipaddress.ip_address(host or server)
                if port and not 0 < int(port) < 65536:
                    raise ValueError
            except ValueError:
                raise serializers.ValidationError(f"{server!r} is not an IP address or IP:port.") from None
        return value

    def validate_query_types(self, value: list[str]) -> list[str]:
        allowed = {"A", "AAAA", "CNAME", "MX", "NS", "TXT"}
        upper = [item.upper() for item in value] or ["A"]
        bad = [item for item in upper if item not in allowed]
        if bad:
            raise serializers.ValidationError(f"Unsupported query types: {', '.join(bad)}.")
        return upper

    def validate_timeout_seconds(self, value: float) -> float:
        if not 0 < value <= 60:
            raise serializers.ValidationError("Must be between 0 and 60 seconds.")
        return value

    def validate_concurrency(self, value: int) -> int:
        if not 1 <= value <= 2000:
            raise serializers.ValidationError("Must be between 1 and 2000.")
        return value


class HttpPersonaSerializer(serializers.ModelSerializer):
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
            "verify_tls",
            "address_family",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "tenant", "created_at", "updated_at"]

    def validate_headers(self, value: object) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise serializers.ValidationError("Must be an object of header names to string values.")
        return value

    def validate_port(self, value: int | None) -> int | None:
        if value is not None and not 0 < value < 65536:
            raise serializers.ValidationError("Must be a TCP port.")
        return value

    def validate_timeout_seconds(self, value: float) -> float:
        if not 0 < value <= 120:
            raise serializers.ValidationError("Must be between 0 and 120 seconds.")
        return value

    def validate_concurrency(self, value: int) -> int:
        if not 1 <= value <= 1000:
            raise serializers.ValidationError("Must be between 1 and 1000.")
        return value


class ProxySerializer(serializers.ModelSerializer):
    class Meta:
        model = Proxy
        fields = ["id", "tenant", "name", "url", "created_at", "updated_at"]
        read_only_fields = ["id", "tenant", "created_at", "updated_at"]

    def validate_url(self, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise serializers.ValidationError("Must be an http:// or https:// proxy URL with a host.")
        return value


class CampaignSettingsSerializer(serializers.Serializer):
    auto_resume_on_restart = serializers.BooleanField()


class DomainPageParams(serializers.Serializer):
    after = serializers.IntegerField(required=False, default=-1, min_value=-1)
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=1000)
