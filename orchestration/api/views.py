from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.permissions import IsPlatformAdmin

from .. import metrics
from ..health import health_report


class HealthApi(APIView):
    """Database, Redis and worker reachability. 200 when all are up, 503 otherwise."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(responses={200: inline_serializer("Health", {"ok": serializers.BooleanField()}), 503: None})
    def get(self, request: Request) -> Response:
        report = health_report()
        return Response(report, status=200 if report["ok"] else 503)


class MetricsApi(APIView):
    """The shared counters as JSON (platform admins)."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(responses={200: inline_serializer("Metrics", {"counters": serializers.DictField()})})
    def get(self, request: Request) -> Response:
        return Response({"counters": metrics.snapshot()})


def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """`/metrics` in Prometheus text format, for a scraper on the private network."""
    return HttpResponse(metrics.prometheus_text(), content_type="text/plain; version=0.0.4; charset=utf-8")
