from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from orchestration.api.views import prometheus_metrics

api: list[URLPattern | URLResolver] = [
    path("", include("tenants.api.urls")),
    path("", include("orchestration.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("workflow_runs.api.urls")),
    path("", include("scans.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("console/", include("console.urls")),
    path("api/", include(api)),
    path("metrics", prometheus_metrics, name="metrics"),
]
