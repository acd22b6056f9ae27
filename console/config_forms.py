"""The phase config forms: which fields each phase's form shows, and the form's values turned into the
body the API's `PUT …/phases/{phase}/config` takes. Validation is the API's own
(`campaigns.phase_configs.config_validate`, through `phase_config_set`): nothing is checked here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict

from campaigns.models import Campaign, DnsPersona, HttpPersona, Proxy
from campaigns.phases import Phase
from campaigns.phases.domain_generation import PATTERN_TYPES


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str  # text | number | choice | personas | proxy | keywords
    required: bool = True
    choices: tuple[str, ...] = ()
    help: str = ""


PHASE_FIELDS: dict[str, tuple[FormField, ...]] = {
    Phase.DOMAIN_GENERATION: (
        FormField("pattern_type", "Pattern", "choice", choices=PATTERN_TYPES),
        FormField("variable_length", "Variable length", "number"),
        FormField("character_set", "Character set", "text"),
        FormField("constant_string", "Constant string", "text", required=False),
        FormField("tld", "TLD", "text"),
        FormField("num_domains", "Number of domains", "number"),
        FormField("batch_size", "Batch size", "number", required=False),
        FormField("offset_start", "Offset start", "number", required=False),
    ),
    Phase.DNS_VALIDATION: (
        FormField("personaIds", "DNS personas", "personas"),
        FormField("proxyId", "Proxy", "proxy", required=False),
        FormField("batch_size", "Batch size", "number", required=False),
    ),
    Phase.HTTP_KEYWORD_VALIDATION: (
        FormField("personaIds", "HTTP personas", "personas"),
        FormField("proxyId", "Proxy", "proxy", required=False),
        FormField("keywords", "Keywords", "keywords", required=False, help="comma separated"),
        FormField("batch_size", "Batch size", "number", required=False),
    ),
    Phase.ANALYSIS: (
        FormField("keyword", "Keyword", "text"),
        FormField("batch_size", "Batch size", "number", required=False),
    ),
}

_SEPARATORS = re.compile(r"[,\n]")


def form_to_config(*, phase: str, form: QueryDict) -> dict[str, Any]:
    """The API body for the submitted form. Blank optional fields are left out (the API's defaults
    apply); blank required ones are sent blank, so the API names them."""
    data: dict[str, Any] = {}
    for spec in PHASE_FIELDS[phase]:
        if spec.kind == "personas":
            data[spec.name] = form.getlist(spec.name)
            continue
        raw = form.get(spec.name, "")
        if spec.kind == "keywords":
            data[spec.name] = [word.strip() for word in _SEPARATORS.split(raw) if word.strip()]
        elif spec.kind == "proxy":
            data[spec.name] = raw or None
        elif raw.strip() or spec.required:
            data[spec.name] = raw
    return data


def config_to_values(config: dict[str, Any] | None) -> dict[str, Any]:
    """A stored config as form values (lists of keywords as text)."""
    values: dict[str, Any] = {}
    for name, value in (config or {}).items():
        values[name] = ", ".join(value) if name == "keywords" else value
    return values


def form_values(*, phase: str, form: QueryDict) -> dict[str, Any]:
    """What the person typed, shown again next to the errors."""
    return {
        spec.name: form.getlist(spec.name) if spec.kind == "personas" else form.get(spec.name, "")
        for spec in PHASE_FIELDS[phase]
    }


def choices_for(*, campaign: Campaign, phase: str) -> dict[str, list[tuple[str, str]]]:
    """Personas and proxies of the campaign's tenant, for the persona and proxy fields."""
    if phase not in (Phase.DNS_VALIDATION, Phase.HTTP_KEYWORD_VALIDATION):
        return {}
    model: type[DnsPersona] | type[HttpPersona] = DnsPersona if phase == Phase.DNS_VALIDATION else HttpPersona
    personas = model.objects.filter(tenant=campaign.tenant).order_by("name").values_list("pk", "name")
    proxies = Proxy.objects.filter(tenant=campaign.tenant).order_by("name").values_list("pk", "name")
    return {
        "personas": [(str(pk), name) for pk, name in personas],
        "proxies": [(str(pk), name) for pk, name in proxies],
    }
