from django.contrib.auth import views as auth_views
from django.urls import path, register_converter

from . import auth_views as auth_views_console
from . import campaign_views, dashboard_views, feed_views, persona_views, run_views, scan_views
from .converters import PhaseActionConverter

register_converter(PhaseActionConverter, "action")
app_name = "console"

urlpatterns = [
    path("login/", auth_views_console.ConsoleLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", dashboard_views.dashboard, name="dashboard"),
    path("lists", dashboard_views.lists_fragment, name="dashboard-lists"),
    path("changes", feed_views.changes, name="changes"),
    path("campaigns/new", dashboard_views.campaign_new, name="campaign-new"),
    path("runs/new", dashboard_views.run_new, name="run-new"),
    path("scans/new", dashboard_views.scan_new, name="scan-new"),
    path("campaigns/<uuid:campaign_id>", campaign_views.campaign_page, name="campaign"),
    path("campaigns/<uuid:campaign_id>/pipeline", campaign_views.pipeline_fragment, name="campaign-pipeline"),
    path("campaigns/<uuid:campaign_id>/events", campaign_views.events_fragment, name="campaign-events-log"),
    path("campaigns/<uuid:campaign_id>/mode", campaign_views.mode_action, name="campaign-mode"),
    path("campaigns/<uuid:campaign_id>/cancel", campaign_views.cancel_action, name="campaign-cancel"),
    path(
        "campaigns/<uuid:campaign_id>/phases/<str:phase>/config", campaign_views.config_action, name="campaign-config"
    ),
    path(
        "campaigns/<uuid:campaign_id>/phases/<str:phase>/<action:action>",
        campaign_views.phase_action,
        name="campaign-phase",
    ),
    path("personas", persona_views.personas_page, name="personas"),
    path("personas/<str:kind>/new", persona_views.persona_save, name="persona-new"),
    path("personas/<str:kind>/<uuid:persona_id>", persona_views.persona_save, name="persona"),
    path("runs/<uuid:run_id>", run_views.run_page, name="run"),
    path("runs/<uuid:run_id>/summary", run_views.summary_fragment, name="run-summary"),
    path("runs/<uuid:run_id>/files", run_views.files_fragment, name="run-files"),
    path("runs/<uuid:run_id>/continue", run_views.continue_view, name="run-continue"),
    path("runs/<uuid:run_id>/cancel", run_views.cancel_action, name="run-cancel"),
    path("scans/<uuid:scan_id>", scan_views.scan_page, name="scan"),
    path("scans/<uuid:scan_id>/services", scan_views.services_fragment, name="scan-services"),
    path("scans/<uuid:scan_id>/events", scan_views.events_fragment, name="scan-events-log"),
    path("scans/<uuid:scan_id>/retry", scan_views.retry_action, name="scan-retry"),
    path("scans/<uuid:scan_id>/cancel", scan_views.cancel_action, name="scan-cancel"),
]
