"""Campaign pages: the four phases with their configs, the mode, the live pipeline and the event log.
Every action calls the service the API's view calls; its errors come back where the person acted."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from campaigns import selectors
from campaigns.api.serializers import ModeSerializer, PhaseStartSerializer
from campaigns.api.views import checked_phase
from campaigns.models import Campaign, CampaignReport, PhaseConfig
from campaigns.phase_configs import batch_size
from campaigns.phases import PHASES, Phase
from campaigns.services import campaigns as campaign_services
from campaigns.services import phases as phase_services
from campaigns.services.cancel import campaign_cancel
from tenants.selectors import get_scoped

from . import config_forms, live
from .access import ActionError, attempt, console_user, fragment, require_tenant_admin, tenant_page

LABELS: dict[str, str] = {
    Phase.DOMAIN_GENERATION: "Domain generation",
    Phase.DNS_VALIDATION: "DNS validation",
    Phase.HTTP_KEYWORD_VALIDATION: "HTTP keyword validation",
    Phase.ANALYSIS: "Analysis",
}
LIVE_EVENTS = (
    "phase_started",
    "phase_auto_started",
    "phase_completed",
    "phase_failed",
    "phase_paused",
    "phase_resumed",
    "mode_changed",
    "campaign_completed",
    "campaign_cancel_requested",
    "campaign_cancelled",
)


LIVE_TRIGGER = ", ".join(f"sse:{name}" for name in LIVE_EVENTS)


def campaign_for(request: HttpRequest, campaign_id: Any) -> Campaign:
    return get_scoped(Campaign.objects.select_related("tenant"), user=console_user(request), pk=campaign_id)


def _progress(phase: dict[str, Any], configs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Batches (and about how many domains) done of the current round, the rate since the phase
    started, and the time left at that rate."""
    progress = phase["progress"]
    if progress is None:
        return None
    total = progress["batches"]
    done = progress["succeeded"] + progress["failed"] + progress["errored"]
    started = phase["startedAt"]
    running = phase["status"] == "in_progress"
    ended = None if running else (phase["completedAt"] or phase["failedAt"])  # a finished phase's rate stays
    elapsed = ((ended or timezone.now()) - started).total_seconds() if started else 0.0
    rate = done / elapsed if elapsed > 0 and done else 0.0
    size = batch_size(phase=phase["phase"], config=configs.get(phase["phase"], {}))
    domains = configs.get(Phase.DOMAIN_GENERATION, {}).get("num_domains")
    return {
        **progress,
        "done": done,
        "percent": int(100 * done / total) if total else 100,
        "rate": rate,
        "eta": (total - done) / rate if running and rate else None,
        "items_done": min(done * size, domains) if domains else done * size,
        "items_total": min(total * size, domains) if domains else total * size,
    }


def pipeline_context(campaign: Campaign) -> dict[str, Any]:
    pipeline = selectors.campaign_pipeline(campaign=campaign)
    configs = {row.phase: row.config for row in PhaseConfig.objects.filter(campaign=campaign)}
    action = pipeline["nextUserAction"]
    full_sequence = campaign.mode == "full_sequence"
    phases = []
    for index, phase in enumerate(pipeline["phases"]):
        name = phase["phase"]
        wanted = action["phase"] == name
        phases.append(
            {
                **phase,
                "label": LABELS[name],
                "progress": _progress(phase, configs),
                # Later start buttons are hidden in full_sequence: the chain starts them, unless it
                # stopped before one that is next (then that one is the next user action).
                "can_start": phase["status"] == "not_started"
                and (not full_sequence or index == 0 or (wanted and action["action"] == "start_phase")),
                "highlight": action["action"] if wanted else None,
                "repeated_failures": phase["status"] == "failed" and phase["attempts"] >= 2,
            }
        )
    return {
        "campaign": campaign,
        "pipeline": pipeline,
        "phases": phases,
        "running": pipeline["pipelineState"] == "running",
        "has_report": CampaignReport.objects.filter(campaign=campaign).exists(),
        "labels": LABELS,
        "live_trigger": LIVE_TRIGGER,
    }


def config_context(campaign: Campaign, phase: str, *, values: dict[str, Any] | None = None) -> dict[str, Any]:
    row = PhaseConfig.objects.filter(campaign=campaign, phase=phase).first()
    return {
        "campaign": campaign,
        "phase": phase,
        "label": LABELS[phase],
        "configured": row is not None,
        "fields": config_forms.PHASE_FIELDS[phase],
        "values": values if values is not None else config_forms.config_to_values(row.config if row else None),
        "choices": config_forms.choices_for(campaign=campaign, phase=phase),
    }


@tenant_page
@require_GET
def campaign_page(request: HttpRequest, campaign_id: Any) -> HttpResponse:
    campaign = campaign_for(request, campaign_id)
    return render(
        request,
        "console/campaign.html",
        {
            **pipeline_context(campaign),
            "configs": [config_context(campaign, phase) for phase in PHASES],
            "events": live.recent_events(stream=campaign.stream),
            "last_seq": live.stream_position(stream=campaign.stream),
        },
    )


@tenant_page
@require_GET
def pipeline_fragment(request: HttpRequest, campaign_id: Any) -> HttpResponse:
    campaign = campaign_for(request, campaign_id)
    return fragment(request, "console/fragments/pipeline.html", pipeline_context(campaign))


@tenant_page
@require_GET
def events_fragment(request: HttpRequest, campaign_id: Any) -> HttpResponse:
    campaign = campaign_for(request, campaign_id)
    return fragment(
        request,
        "console/fragments/event_log.html",
        {
            "events": live.recent_events(stream=campaign.stream),
            "refresh_url": request.path,
            "live_trigger": LIVE_TRIGGER,
        },
    )


def _pipeline_after(
    request: HttpRequest, campaign: Campaign, error: ActionError | None, *, at: str | None
) -> HttpResponse:
    campaign.refresh_from_db()
    context = {**pipeline_context(campaign), "error_at": at, "oob": True}
    return fragment(request, "console/fragments/pipeline.html", context, error=error)


@tenant_page
@require_POST
def mode_action(request: HttpRequest, campaign_id: Any) -> HttpResponse:
    campaign = campaign_for(request, campaign_id)

    def change() -> Campaign:
        serializer = ModeSerializer(data={"mode": request.POST.get("mode", "")})
        serializer.is_valid(raise_exception=True)
        return campaign_services.campaign_set_mode(
            campaign=campaign, mode=serializer.validated_data["mode"], actor=console_user(request)
        )

    _, error = attempt(change)
    return _pipeline_after(request, campaign, error, at="mode")


@tenant_page
@require_POST
def phase_action(request: HttpRequest, campaign_id: Any, phase: str, action: str) -> HttpResponse:
    campaign = campaign_for(request, campaign_id)
    phase = checked_phase(phase)
    actor = console_user(request)

    def act() -> object:
        if action == "start":
            serializer = PhaseStartSerializer(data={"restart": request.POST.get("restart") == "true"})
            serializer.is_valid(raise_exception=True)
            restart = serializer.validated_data["restart"]
            return phase_services.phase_start(campaign=campaign, phase=phase, actor=actor, restart=restart)
        if action == "pause":
            return phase_services.phase_pause(campaign=campaign, phase=phase, actor=actor)
        return phase_services.phase_resume(campaign=campaign, phase=phase, actor=actor)

    _, error = attempt(act)
    return _pipeline_after(request, campaign, error, at=phase)


@tenant_page
@require_POST
def cancel_action(request: HttpRequest, campaign_id: Any) -> HttpResponse:
    campaign = campaign_for(request, campaign_id)
    actor = console_user(request)

    def cancel() -> object:
        require_tenant_admin(actor)
        return campaign_cancel(campaign=campaign, actor=actor)

    _, error = attempt(cancel)
    return _pipeline_after(request, campaign, error, at="campaign")


@tenant_page
@require_POST
def config_action(request: HttpRequest, campaign_id: Any, phase: str) -> HttpResponse:
    campaign = campaign_for(request, campaign_id)
    phase = checked_phase(phase)
    data = config_forms.form_to_config(phase=phase, form=request.POST)
    _, error = attempt(lambda: campaign_services.phase_config_set(campaign=campaign, phase=phase, data=data))
    if error is None:
        context = {**config_context(campaign, phase), "saved": True}
        return fragment(request, "console/fragments/phase_config.html", context, trigger="pipeline-changed")
    values = config_forms.form_values(phase=phase, form=request.POST)
    context = {**config_context(campaign, phase, values=values), "open": True}
    return fragment(request, "console/fragments/phase_config.html", context, error=error)
