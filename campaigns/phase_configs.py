"""Per-phase configuration: one serializer per phase validates what is stored (400 with field-level
messages on write) and is run again when the phase starts (personas may have been deleted since)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from tenants.models import Tenant

from .models import DnsPersona, HttpPersona, Proxy
from .phases import Phase
from .phases import domain_generation as generation

# Sized so that one batch is roughly 0.1-0.3 s of work: large enough that a job's fixed cost (claim,
# commit, dispatch: about 10 ms) is small beside it, small enough that a resumed phase redoes little and
# that work spreads over the workers. Generation is cheap per row (about 9 µs to COPY), hence its size.
DEFAULT_BATCH_SIZES = {
    Phase.DOMAIN_GENERATION: 20_000,
    Phase.DNS_VALIDATION: 1000,
    Phase.HTTP_KEYWORD_VALIDATION: 250,
    Phase.ANALYSIS: 5000,
}
MAX_DOMAINS = 10_000_000
# A generated domain's `offset` is a bigint: the last offset of a phase must fit in one.
MAX_OFFSET_START = 2**63 - 1 - MAX_DOMAINS


class DomainGenerationConfig(serializers.Serializer):
    pattern_type = serializers.ChoiceField(choices=generation.PATTERN_TYPES)
    variable_length = serializers.IntegerField(min_value=1, max_value=63)
    character_set = serializers.CharField(trim_whitespace=False, max_length=200)
    constant_string = serializers.CharField(required=False, allow_blank=True, default="", max_length=63)
    tld = serializers.CharField(max_length=200)
    num_domains = serializers.IntegerField(min_value=1, max_value=MAX_DOMAINS)
    batch_size = serializers.IntegerField(
        min_value=1, max_value=50_000, required=False, default=DEFAULT_BATCH_SIZES[Phase.DOMAIN_GENERATION]
    )
    offset_start = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET_START, required=False, default=0)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        spec = spec_from_config(attrs)
        errors = generation.spec_errors(spec)
        if errors:
            raise serializers.ValidationError(errors)
        size = generation.space_size(spec)
        if attrs["offset_start"] + attrs["num_domains"] > size:
            available = max(size - attrs["offset_start"], 0)
            raise serializers.ValidationError(
                {
                    "num_domains": [
                        f"The combination space holds {size} names; from offset {attrs['offset_start']} only "
                        f"{available} are available, fewer than the {attrs['num_domains']} asked for."
                    ]
                }
            )
        attrs["character_set"] = attrs["character_set"].lower()
        attrs["constant_string"] = attrs["constant_string"].lower()
        attrs["tld"] = attrs["tld"].strip(".").lower()
        return attrs


def spec_from_config(config: dict[str, Any]) -> generation.GenerationSpec:
    return generation.GenerationSpec(
        pattern_type=config["pattern_type"],
        variable_length=config["variable_length"],
        character_set=config["character_set"],
        tld=config["tld"],
        constant_string=config.get("constant_string", ""),
    )


class _PersonaPhaseConfig(serializers.Serializer):
    persona_model: type[DnsPersona] | type[HttpPersona]
    personaIds = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=20)
    proxyId = serializers.UUIDField(required=False, allow_null=True, default=None)
    batch_size = serializers.IntegerField(min_value=1, max_value=20_000, required=False)

    def _tenant(self) -> Tenant:
        return self.context["tenant"]

    def validate_personaIds(self, value: list[Any]) -> list[str]:
        ids = list(dict.fromkeys(str(item) for item in value))
        found = {
            str(pk)
            for pk in self.persona_model.objects.filter(tenant=self._tenant(), pk__in=ids).values_list("pk", flat=True)
        }
        missing = [pk for pk in ids if pk not in found]
        if missing:
            raise serializers.ValidationError(f"Unknown {self.persona_model._meta.verbose_name}: {', '.join(missing)}.")
        return ids

    def validate_proxyId(self, value: Any) -> str | None:
        if value is None:
            return None
        if not Proxy.objects.filter(tenant=self._tenant(), pk=value).exists():
            raise serializers.ValidationError(f"Unknown proxy: {value}.")
        return str(value)


class DnsValidationConfig(_PersonaPhaseConfig):
    persona_model = DnsPersona


class HttpKeywordValidationConfig(_PersonaPhaseConfig):
    persona_model = HttpPersona
    keywords = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list, max_length=100
    )


class AnalysisConfig(serializers.Serializer):
    keyword = serializers.CharField(max_length=100)
    batch_size = serializers.IntegerField(min_value=1, max_value=50_000, required=False)


CONFIG_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
    Phase.DOMAIN_GENERATION: DomainGenerationConfig,
    Phase.DNS_VALIDATION: DnsValidationConfig,
    Phase.HTTP_KEYWORD_VALIDATION: HttpKeywordValidationConfig,
    Phase.ANALYSIS: AnalysisConfig,
}


def config_validate(*, phase: str, data: Any, tenant: Tenant) -> dict[str, Any]:
    """The clean config, or `serializers.ValidationError` with field-level messages."""
    serializer = CONFIG_SERIALIZERS[phase](data=data, context={"tenant": tenant})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def batch_size(*, phase: str, config: dict[str, Any]) -> int:
    return int(config.get("batch_size") or DEFAULT_BATCH_SIZES[Phase(phase)])
