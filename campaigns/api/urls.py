from django.urls import path

from . import events, personas, views

urlpatterns = [
    path("campaigns", views.CampaignListApi.as_view(), name="campaign-list"),
    path("campaigns/settings", views.CampaignSettingsApi.as_view(), name="campaign-settings"),
    path("campaigns/<uuid:campaign_id>", views.CampaignDetailApi.as_view(), name="campaign-detail"),
    path("campaigns/<uuid:campaign_id>/mode", views.CampaignModeApi.as_view(), name="campaign-mode"),
    path(
        "campaigns/<uuid:campaign_id>/phases/<str:phase>/config",
        views.PhaseConfigApi.as_view(),
        name="campaign-phase-config",
    ),
    path(
        "campaigns/<uuid:campaign_id>/phases/<str:phase>/start",
        views.PhaseStartApi.as_view(),
        name="campaign-phase-start",
    ),
    path(
        "campaigns/<uuid:campaign_id>/phases/<str:phase>/pause",
        views.PhasePauseApi.as_view(),
        name="campaign-phase-pause",
    ),
    path(
        "campaigns/<uuid:campaign_id>/phases/<str:phase>/resume",
        views.PhaseResumeApi.as_view(),
        name="campaign-phase-resume",
    ),
    path("campaigns/<uuid:campaign_id>/cancel", views.CampaignCancelApi.as_view(), name="campaign-cancel"),
    path("campaigns/<uuid:campaign_id>/domains", views.CampaignDomainsApi.as_view(), name="campaign-domains"),
    path("campaigns/<uuid:campaign_id>/report", views.CampaignReportApi.as_view(), name="campaign-report"),
    path("campaigns/<uuid:campaign_id>/report.csv", views.CampaignReportCsvApi.as_view(), name="campaign-report-csv"),
    path("campaigns/<uuid:campaign_id>/events", events.campaign_events, name="campaign-events"),
    path("personas/dns", personas.DnsPersonaListApi.as_view(), name="dns-persona-list"),
    path("personas/dns/<uuid:object_id>", personas.DnsPersonaDetailApi.as_view(), name="dns-persona-detail"),
    path("personas/http", personas.HttpPersonaListApi.as_view(), name="http-persona-list"),
    path("personas/http/<uuid:object_id>", personas.HttpPersonaDetailApi.as_view(), name="http-persona-detail"),
    path("proxies", personas.ProxyListApi.as_view(), name="proxy-list"),
    path("proxies/<uuid:object_id>", personas.ProxyDetailApi.as_view(), name="proxy-detail"),
]
