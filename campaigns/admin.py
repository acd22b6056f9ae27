from typing import Any, TypeVar

from django import forms
from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from rest_framework import serializers

from core.admin_actions import confirmation_page, confirmed, require_platform_admin, require_tenant_admin, run_each
from tenants.admin_scoping import TenantScopedAdmin, admin_user
from tenants.models import Tenant, User

from .api.serializers import DnsPersonaSerializer, HttpPersonaSerializer, ProxySerializer
from .models import (
    Campaign,
    CampaignPhase,
    CampaignReport,
    CampaignSettings,
    DnsPersona,
    HttpPersona,
    PhaseConfig,
    Proxy,
)
from .services.campaigns import campaign_delete, campaign_set_mode, campaign_settings_update
from .services.cancel import campaign_cancel
from .services.phases import phase_pause, phase_resume, phase_start

M = TypeVar("M", bound=Model)


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


# Actions call the services the API calls, one object at a time, and report the API's errors (a 409
# with `missingPhases`, a 403 for a role that may not act) on the page.
@admin.register(Campaign)
class CampaignAdmin(TenantScopedAdmin[Campaign]):
    list_display = ["name", "tenant", "mode", "status", "created_at"]
    list_filter = ["mode", "status"]
    search_fields = ["name", "id"]
    inlines = [CampaignPhaseInline, PhaseConfigInline]
    readonly_fields = ["status", "mode"]
    actions = ["switch_to_full_sequence", "switch_to_step_by_step", "cancel_campaigns", "delete_campaigns"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Django's own delete would cascade row by row and leave the engine's stages and events behind;
        # the `delete_campaigns` action goes through the service (tenant admins, 409 while a phase runs).
        return False

    def _set_mode(self, request: HttpRequest, queryset: QuerySet[Campaign], mode: str) -> None:
        run_each(
            self,
            request,
            queryset,
            lambda campaign: campaign_set_mode(campaign=campaign, mode=mode, actor=admin_user(request)),
            done=f"mode {mode}.",
        )

    @admin.action(description="Switch to full sequence")
    def switch_to_full_sequence(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._set_mode(request, queryset, "full_sequence")

    @admin.action(description="Switch to step by step")
    def switch_to_step_by_step(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._set_mode(request, queryset, "step_by_step")

    @admin.action(description="Cancel the selected campaigns")
    def cancel_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        def cancel(campaign: Campaign) -> object:
            require_tenant_admin(admin_user(request))
            return campaign_cancel(campaign=campaign, actor=admin_user(request))

        run_each(self, request, queryset, cancel, done="cancel requested.")

    @admin.action(description="Delete the selected campaigns (results and history)")
    def delete_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> TemplateResponse | None:
        campaigns = list(queryset.order_by("pk"))
        actor = admin_user(request)
        if not confirmed(request):
            lines = [f"{campaign}: its domains, results, report, stages, jobs and events go." for campaign in campaigns]
            return confirmation_page(
                self, request, title="Delete these campaigns?", lines=lines, selected=campaigns, confirm="Delete"
            )

        def delete(campaign: Campaign) -> object:
            require_tenant_admin(actor)
            campaign_delete(campaign=campaign)
            return None

        run_each(self, request, campaigns, delete, done="deleted.")
        return None


@admin.register(CampaignPhase)
class CampaignPhaseAdmin(TenantScopedAdmin[CampaignPhase]):
    tenant_field = "campaign__tenant"
    list_display = ["campaign", "phase", "status", "paused_reason", "attempts", "error", "updated_at"]
    list_filter = ["phase", "status", "paused_reason"]
    search_fields = ["campaign__name", "campaign__id"]
    raw_id_fields = ["campaign", "stage"]
    readonly_fields = ["status", "paused_reason", "recovery_token", "stage"]
    actions = ["start_phases", "restart_phases", "pause_phases", "resume_phases"]

    def _each(self, request: HttpRequest, queryset: QuerySet[CampaignPhase], action: Any, done: str) -> None:
        rows = queryset.select_related("campaign__tenant").order_by("campaign_id", "pk")
        run_each(self, request, rows, lambda row: action(campaign=row.campaign, phase=row.phase), done=done)

    @admin.action(description="Start (or retry) the selected phases")
    def start_phases(self, request: HttpRequest, queryset: QuerySet[CampaignPhase]) -> None:
        self._each(request, queryset, lambda **kw: phase_start(**kw, actor=admin_user(request)), "started.")

    @admin.action(description="Restart the selected failed phases from scratch")
    def restart_phases(self, request: HttpRequest, queryset: QuerySet[CampaignPhase]) -> None:
        actor = admin_user(request)
        self._each(request, queryset, lambda **kw: phase_start(**kw, actor=actor, restart=True), "restarted.")

    @admin.action(description="Pause the selected phases")
    def pause_phases(self, request: HttpRequest, queryset: QuerySet[CampaignPhase]) -> None:
        self._each(request, queryset, lambda **kw: phase_pause(**kw, actor=admin_user(request)), "paused.")

    @admin.action(description="Resume the selected phases")
    def resume_phases(self, request: HttpRequest, queryset: QuerySet[CampaignPhase]) -> None:
        self._each(request, queryset, lambda **kw: phase_resume(**kw, actor=admin_user(request)), "resumed.")


class TenantAdminEditsAdmin(TenantScopedAdmin[M]):
    """Personas and proxies: their tenant's staff see them; only tenant admins (and platform admins)
    add, change or delete them, as in the API."""

    def _may_edit(self, request: HttpRequest) -> bool:
        return bool(getattr(request.user, "is_tenant_admin", False))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may_edit(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_edit(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_edit(request) and super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # A tenant's admin creates and moves rows within its own tenant only.
        user = request.user
        if db_field.name == "tenant" and isinstance(user, User) and not user.is_platform_admin:
            kwargs["queryset"] = Tenant.objects.filter(users=user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class CheckedByTheApiForm(forms.ModelForm):
    """A persona or proxy saved in the admin passes the API's own serializer too (its bounds, its header
    rules, the egress policy on nameservers and proxy URLs): the admin cannot store what the API refuses."""

    serializer_class: type[serializers.ModelSerializer[Any]]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        writable = {name for name, field in self.serializer_class().fields.items() if not field.read_only}
        data = {name: value for name, value in cleaned.items() if name in writable}
        checked = self.serializer_class(instance=self.instance if self.instance.pk else None, data=data, partial=True)
        if not checked.is_valid():
            for name, problems in checked.errors.items():
                self.add_error(name if name in self.fields else None, _messages(problems))
        return cleaned


def _messages(problems: Any) -> list[str]:
    """A serializer's errors for one field (a list, or a dict per list item) as plain messages."""
    if isinstance(problems, dict):
        return [f"{key}: {message}" for key, value in problems.items() for message in _messages(value)]
    if isinstance(problems, list):
        return [message for problem in problems for message in _messages(problem)]
    return [str(problems)]


class DnsPersonaAdminForm(CheckedByTheApiForm):
    serializer_class = DnsPersonaSerializer

    class Meta:
        model = DnsPersona
        fields = ["tenant", "name", "nameservers", "query_types", "timeout_seconds", "retries", "concurrency"]
        fields += ["rate_limit_per_second"]


class HttpPersonaAdminForm(CheckedByTheApiForm):
    serializer_class = HttpPersonaSerializer

    class Meta:
        model = HttpPersona
        fields = ["tenant", "name", "user_agent", "headers", "scheme", "port", "timeout_seconds", "max_redirects"]
        fields += ["max_body_bytes", "concurrency", "rate_limit_per_second", "verify_tls", "address_family"]


@admin.register(DnsPersona)
class DnsPersonaAdmin(TenantAdminEditsAdmin[DnsPersona]):
    form = DnsPersonaAdminForm
    list_display = [
        "name",
        "tenant",
        "nameservers",
        "timeout_seconds",
        "retries",
        "concurrency",
        "rate_limit_per_second",
    ]
    search_fields = ["name"]


@admin.register(HttpPersona)
class HttpPersonaAdmin(TenantAdminEditsAdmin[HttpPersona]):
    form = HttpPersonaAdminForm
    list_display = ["name", "tenant", "scheme", "port", "timeout_seconds", "concurrency", "rate_limit_per_second"]
    search_fields = ["name"]


class ProxyAdminForm(CheckedByTheApiForm):
    """The URL (it may carry credentials) is written, never shown: the field renders empty, and left
    empty on a change it keeps the stored URL. `masked_url` shows it without its credentials."""

    url = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="http://host:port (credentials in the URL if any). Leave empty to keep the current URL.",
    )

    serializer_class = ProxySerializer

    class Meta:
        model = Proxy
        fields = ["tenant", "name", "url"]

    def clean_url(self) -> str:
        value = str(self.cleaned_data.get("url") or "")
        if value:
            return value
        if self.instance.pk:
            return str(self.instance.url)
        raise forms.ValidationError("A proxy URL is required.")


@admin.register(Proxy)
class ProxyAdmin(TenantAdminEditsAdmin[Proxy]):
    form = ProxyAdminForm
    list_display = ["name", "tenant", "masked_url"]
    readonly_fields = ["masked_url"]
    search_fields = ["name"]


@admin.register(CampaignReport)
class CampaignReportAdmin(admin.ModelAdmin[CampaignReport]):
    list_display = ["campaign", "created_at"]
    readonly_fields = ["campaign", "report", "created_at"]


@admin.register(CampaignSettings)
class CampaignSettingsAdmin(admin.ModelAdmin[CampaignSettings]):
    list_display = ["__str__", "auto_resume_on_restart", "updated_at"]
    readonly_fields = ["auto_resume_on_restart"]  # changed by the action, through the service
    actions = ["toggle_auto_resume"]

    @admin.action(description="Toggle auto-resume on restart")
    def toggle_auto_resume(self, request: HttpRequest, queryset: QuerySet[CampaignSettings]) -> None:
        def toggle(settings: CampaignSettings) -> object:
            require_platform_admin(admin_user(request))
            return campaign_settings_update(auto_resume_on_restart=not settings.auto_resume_on_restart)

        run_each(self, request, queryset, toggle, done="auto-resume on restart toggled.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not CampaignSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
