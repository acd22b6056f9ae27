from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from core.operator_access import SchemaView, SwaggerView, metrics_guard
from orchestration.api.views import prometheus_metrics

api: list[URLPattern | URLResolver] = [
    path("", include("tenants.api.urls")),
    path("", include("orchestration.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("workflow_runs.api.urls")),
    path("", include("scans.api.urls")),
    # RELAY_API_DOCS: public in development, for signed-in users (or off) in production.
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("console/", include("console.urls")),
    path("api/", include(api)),
    # A bearer token or an allow-listed scraper address in production (core/operator_access.py).
    path("metrics", metrics_guard(prometheus_metrics), name="metrics"),
]
