"""Who may read the operator endpoints. Open in development (DEBUG on); in production `/metrics` takes a
bearer token or an allow-listed client address, and the OpenAPI schema and Swagger UI take a signed-in
user or are switched off (settings: RELAY_METRICS_*, RELAY_API_DOCS). Refusals are in the error envelope."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .api import error_body

DOCS_MODES = ("public", "authenticated", "off")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def metrics_networks() -> list[Network]:
    """RELAY_METRICS_ALLOW_CIDRS; a ValueError names the entry that is not a CIDR (a system check error)."""
    networks = []
    for entry in str(settings.RELAY_METRICS_ALLOW_CIDRS).split(","):
        if entry.strip():
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
    return networks


def _client_allowed(address: str) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped:
        client = client.ipv4_mapped
    return any(client in network for network in metrics_networks())


def _token_matches(header: str) -> bool:
    token = str(settings.RELAY_METRICS_TOKEN)
    scheme, _, given = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the request may read `/metrics`, else the refusal. The address is REMOTE_ADDR, the
    peer the web process sees (behind a reverse proxy that is the proxy: use the token there)."""
    if settings.RELAY_METRICS_PUBLIC or _client_allowed(str(request.META.get("REMOTE_ADDR", ""))):
        return None
    if _token_matches(request.headers.get("Authorization", "")):
        return None
    if settings.RELAY_METRICS_TOKEN:
        response = JsonResponse(
            error_body("not_authenticated", "Send the metrics token as `Authorization: Bearer <token>`."), status=401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return JsonResponse(error_body("permission_denied", "This client may not read the metrics."), status=403)


def metrics_guard(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    @wraps(view)
    def guarded(request: HttpRequest) -> HttpResponse:
        return metrics_refusal(request) or view(request)

    return guarded


class ApiDocsAccess(BasePermission):
    """RELAY_API_DOCS: `public`, `authenticated` (401 without credentials) or `off` (404)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        mode = settings.RELAY_API_DOCS
        if mode == "public":
            return True
        if mode == "authenticated":
            return bool(request.user and request.user.is_authenticated)
        raise exceptions.NotFound()


class _JsonErrors(APIView):
    """A refusal rendered as JSON (the envelope with its code), not with the view's YAML or HTML renderer."""

    def handle_exception(self, exc: Exception) -> Response:
        response: Response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return response


class SchemaView(_JsonErrors, SpectacularAPIView):
    permission_classes = [ApiDocsAccess]


class SwaggerView(_JsonErrors, SpectacularSwaggerView):
    permission_classes = [ApiDocsAccess]
