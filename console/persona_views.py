"""Personas page: the tenant's DNS and HTTP personas, edited and created through the API's serializers
and `campaigns.services.personas` (so a persona that broke a phase can be fixed before its retry)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from rest_framework.serializers import ModelSerializer

from campaigns.api.serializers import DnsPersonaSerializer, HttpPersonaSerializer
from campaigns.models import DnsPersona, HttpPersona
from campaigns.services import personas as services
from tenants.selectors import acting_tenant, get_scoped, scoped

from .access import attempt, console_user, fragment, require_tenant_admin, tenant_page


@dataclass(frozen=True)
class PersonaKind:
    name: str
    label: str
    model: type[DnsPersona] | type[HttpPersona]
    serializer: type[ModelSerializer[Any]]
    fields: tuple[tuple[str, str], ...]  # (field, label); list fields are comma separated
    lists: tuple[str, ...] = ()


KINDS = {
    "dns": PersonaKind(
        "dns",
        "DNS personas",
        DnsPersona,
        DnsPersonaSerializer,
        (
            ("name", "Name"),
            ("nameservers", "Nameservers (IP or IP:port, comma separated)"),
            ("timeout_seconds", "Timeout (s)"),
            ("retries", "Retries"),
            ("concurrency", "Concurrency"),
            ("rate_limit_per_second", "Rate limit (per second, all workers; 0: none)"),
        ),
        lists=("nameservers",),
    ),
    "http": PersonaKind(
        "http",
        "HTTP personas",
        HttpPersona,
        HttpPersonaSerializer,
        (
            ("name", "Name"),
            ("scheme", "Scheme (http or https)"),
            ("port", "Port"),
            ("user_agent", "User agent"),
            ("timeout_seconds", "Timeout (s)"),
            ("concurrency", "Concurrency"),
            ("rate_limit_per_second", "Rate limit (per second, all workers; 0: none)"),
        ),
    ),
}


def kind_of(kind: str) -> PersonaKind:
    if kind not in KINDS:
        raise Http404
    return KINDS[kind]


def form_data(kind: PersonaKind, form: QueryDict) -> dict[str, Any]:
    """The API body for the form: list fields split on commas, blank fields left out."""
    data: dict[str, Any] = {}
    for name, _ in kind.fields:
        raw = form.get(name, "").strip()
        if name in kind.lists:
            data[name] = [item.strip() for item in raw.split(",") if item.strip()]
        elif raw:
            data[name] = raw
    return data


def card(kind: PersonaKind, persona: Model | None, values: dict[str, Any] | None = None) -> dict[str, Any]:
    if values is None:
        values = {}
        for name, _ in kind.fields:
            value = getattr(persona, name, "")
            values[name] = ", ".join(value) if name in kind.lists else ("" if value is None else value)
    return {"kind": kind, "persona": persona, "values": values}


@tenant_page
@require_GET
def personas_page(request: HttpRequest) -> HttpResponse:
    user = console_user(request)
    sections = [
        {
            "kind": kind,
            "cards": [card(kind, p) for p in scoped(kind.model.objects.order_by("name"), user=user)],
            "new": card(kind, None),
        }
        for kind in KINDS.values()
    ]
    return render(request, "console/personas.html", {"sections": sections})


@tenant_page
@require_POST
def persona_save(request: HttpRequest, kind: str, persona_id: Any = None) -> HttpResponse:
    """Update (or, without an id, create) a persona; tenant admins only, as in the API."""
    spec = kind_of(kind)
    user = console_user(request)
    persona = get_scoped(spec.model.objects.all(), user=user, pk=persona_id) if persona_id else None
    data = form_data(spec, request.POST)

    def save() -> Model:
        require_tenant_admin(user)
        serializer = spec.serializer(persona, data=data, partial=persona is not None)
        serializer.is_valid(raise_exception=True)
        if persona is not None:
            return services.owned_update(instance=persona, data=dict(serializer.validated_data))
        tenant = acting_tenant(user=user, tenant_id=request.POST.get("tenant") or None)
        return services.owned_create(model=spec.model, tenant=tenant, data=dict(serializer.validated_data))

    saved, error = attempt(save)
    if saved is not None and persona is None:
        response = HttpResponse()
        response["HX-Redirect"] = reverse("console:personas")
        return response
    values = None if error is None else {name: request.POST.get(name, "") for name, _ in spec.fields}
    context = {**card(spec, saved or persona, values), "saved": error is None}
    return fragment(request, "console/fragments/persona_card.html", context, error=error)
