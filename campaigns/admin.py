from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import (
    Campaign,
    CampaignPhase,
    CampaignReport,
    CampaignSettings,
    DnsPersona,
    HttpPersona,
    PhaseConfig,
    PhaseStatus,
    Proxy,
)
from .services.phases import phase_pause, phase_resume


class CampaignPhaseInline(admin.TabularInline[CampaignPhase, Campaign]):
    model = CampaignPhase
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "phase",
        "status",
        "paused_reason",
        "attempts",
        "started_at",
        "completed_at",
        "failed_at",
        "error",
    )


class PhaseConfigInline(admin.TabularInline[PhaseConfig, Campaign]):
    model = PhaseConfig
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin[Campaign]):
    list_display = ["name", "tenant", "mode", "status", "created_at"]
    list_filter = ["mode", "status"]
    search_fields = ["name", "id"]
    inlines = [CampaignPhaseInline, PhaseConfigInline]
    readonly_fields = ["status"]


@admin.register(CampaignPhase)
class CampaignPhaseAdmin(admin.ModelAdmin[CampaignPhase]):
    list_display = ["campaign", "phase", "status", "paused_reason", "attempts", "updated_at"]
    list_filter = ["phase", "status"]
    raw_id_fields = ["campaign", "stage"]
    readonly_fields = ["status", "paused_reason", "recovery_token", "stage"]
    actions = ["pause_phases", "resume_phases"]

    @admin.action(description="Pause the selected phases")
    def pause_phases(self, request: HttpRequest, queryset: QuerySet[CampaignPhase]) -> None:
        for row in queryset.filter(status=PhaseStatus.IN_PROGRESS).select_related("campaign"):
            phase_pause(campaign=row.campaign, phase=row.phase, actor=None)
            self.message_user(request, f"Paused {row}.", messages.SUCCESS)

    @admin.action(description="Resume the selected phases")
    def resume_phases(self, request: HttpRequest, queryset: QuerySet[CampaignPhase]) -> None:
        for row in queryset.filter(status=PhaseStatus.PAUSED).select_related("campaign"):
            phase_resume(campaign=row.campaign, phase=row.phase, actor=None)
            self.message_user(request, f"Resumed {row}.", messages.SUCCESS)


@admin.register(DnsPersona)
class DnsPersonaAdmin(admin.ModelAdmin[DnsPersona]):
    list_display = ["name", "tenant", "nameservers", "timeout_seconds", "retries", "concurrency"]
    search_fields = ["name"]


@admin.register(HttpPersona)
class HttpPersonaAdmin(admin.ModelAdmin[HttpPersona]):
    list_display = ["name", "tenant", "scheme", "port", "timeout_seconds", "concurrency"]
    search_fields = ["name"]


@admin.register(Proxy)
class ProxyAdmin(admin.ModelAdmin[Proxy]):
    list_display = ["name", "tenant", "url"]
    search_fields = ["name"]


@admin.register(CampaignReport)
class CampaignReportAdmin(admin.ModelAdmin[CampaignReport]):
    list_display = ["campaign", "created_at"]
    readonly_fields = ["campaign", "report", "created_at"]


@admin.register(CampaignSettings)
class CampaignSettingsAdmin(admin.ModelAdmin[CampaignSettings]):
    list_display = ["__str__", "auto_resume_on_restart", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not CampaignSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
