from django.urls import path

from . import views

urlpatterns = [
    path("scans", views.ScanListApi.as_view(), name="scan-list"),
    path("scans/services", views.ScanServicesApi.as_view(), name="scan-services"),
    path("scans/<uuid:scan_id>", views.ScanDetailApi.as_view(), name="scan-detail"),
    path("scans/<uuid:scan_id>/retry", views.ScanRetryApi.as_view(), name="scan-retry"),
    path("scans/<uuid:scan_id>/cancel", views.ScanCancelApi.as_view(), name="scan-cancel"),
    path("scans/<uuid:scan_id>/retry/status", views.ScanRetryStatusApi.as_view(), name="scan-retry-status"),
    path("scans/<uuid:scan_id>/events", views.scan_events, name="scan-events"),
]
