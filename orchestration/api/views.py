from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import exposition, job_gauges, metrics
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
    """The cluster's counters, histograms and live-job gauges as JSON (RELAY_ENGINE_API_PERMISSIONS:
    platform admins)."""

    def get_permissions(self) -> list[BasePermission]:
        # The engine knows no users or roles; who may read it is the project's choice, named by dotted
        # path like DRF's own DEFAULT_PERMISSION_CLASSES (read per request, so tests may override it).
        return [import_string(path)() for path in settings.RELAY_ENGINE_API_PERMISSIONS]

    @extend_schema(
        responses={
            200: inline_serializer(
                "Metrics",
                {
                    "counters": serializers.DictField(child=serializers.IntegerField()),
                    "histograms": serializers.DictField(),
                    "jobs": serializers.DictField(),
                },
            )
        }
    )
    def get(self, request: Request) -> Response:
        counts = job_gauges.job_counts()
        jobs = {
            "perQueue": counts.per_queue,
            "perGroup": [
                {"queue": queue, "groupKey": group_key, **statuses}
                for (queue, group_key), statuses in sorted(counts.per_group.items())
            ],
            "oldestDueSeconds": counts.oldest_due_seconds,
            "capped": counts.capped,
        }
        return Response({"counters": metrics.snapshot(), "histograms": metrics.histogram_snapshot(), "jobs": jobs})


def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """`/metrics` in Prometheus text format, for a scraper on the private network."""
    return HttpResponse(exposition.render(), content_type=exposition.CONTENT_TYPE)
