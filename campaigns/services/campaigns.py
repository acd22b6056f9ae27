"""Campaign use cases: create, rename, delete, switch mode, store phase configs, runtime settings."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from core.exceptions import Conflict
from orchestration import events, retention
from tenants.models import Tenant, User

from ..models import (
    Campaign,
    CampaignPhase,
    CampaignSettings,
    DnsResult,
    DomainScore,
    GeneratedDomain,
    HttpResult,
    PhaseConfig,
    PhaseStatus,
)
from ..phase_configs import config_validate
from ..phases import PHASES
from ..selectors import campaign_settings

logger = logging.getLogger(__name__)


def campaign_create(*, tenant: Tenant, name: str, mode: str | None = None, actor: User | None = None) -> Campaign:
    with transaction.atomic():
        campaign = Campaign.objects.create(
            tenant=tenant, name=name, created_by=actor, **({"mode": mode} if mode else {})
        )
        CampaignPhase.objects.bulk_create([CampaignPhase(campaign=campaign, phase=phase) for phase in PHASES])
        events.emit(
            stream=campaign.stream,
            feeds=campaign.feeds,
            type="campaign_created",
            payload={"campaignId": str(campaign.pk), "mode": campaign.mode},
        )
    logger.info("campaign.created campaign=%s tenant=%s actor=%s", campaign.pk, tenant.pk, getattr(actor, "pk", None))
    return campaign


def campaign_update(*, campaign: Campaign, name: str) -> Campaign:
    Campaign.objects.filter(pk=campaign.pk).update(name=name)
    campaign.refresh_from_db()
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if CampaignPhase.objects.filter(campaign=locked, status=PhaseStatus.IN_PROGRESS).exists():
            raise Conflict("Pause the running phase before deleting the campaign.", code="phase_running")
        # Result tables are emptied with plain DELETEs: the ORM's cascade would load every row first.
        for model in (DomainScore, HttpResult, DnsResult, GeneratedDomain):
            model.objects.filter(campaign=locked)._raw_delete(model.objects.db)
        phases = CampaignPhase.objects.filter(campaign=locked, stage__isnull=False)
        stage_ids = list(phases.values_list("stage_id", flat=True))
        stream = locked.stream
        locked.delete()
        # What the engine holds for it: its phases' stages with every job, and its event stream.
        for stage_id in stage_ids:
            retention.stage_forget(stage_id)
        retention.stream_forget(stream)
    logger.info("campaign.deleted campaign=%s tenant=%s", campaign.pk, campaign.tenant_id)


def campaign_set_mode(*, campaign: Campaign, mode: str, actor: User | None) -> Campaign:
    """Switch between `step_by_step` and `full_sequence`; the chain reads it when a phase completes."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        previous = locked.mode
        locked.mode = mode
        locked.save(update_fields=["mode", "updated_at"])
        events.emit(
            stream=locked.stream,
            feeds=locked.feeds,
            type="mode_changed",
            payload={
                "campaignId": str(locked.pk),
                "mode": mode,
                "previousMode": previous,
                "timestamp": locked.updated_at.isoformat(),
            },
        )
    logger.info(
        "campaign.mode_changed campaign=%s tenant=%s mode=%s previous=%s actor=%s",
        locked.pk,
        locked.tenant_id,
        mode,
        previous,
        getattr(actor, "pk", None),
    )
    return locked


def phase_config_set(*, campaign: Campaign, phase: str, data: Any) -> PhaseConfig:
    """Validate (400 with field messages) and store a phase's config. 409 while the phase runs or is
    paused: its config is frozen until it ends (a failed phase may be edited, and restarted with it)."""
    clean = config_validate(phase=phase, data=data, tenant=campaign.tenant)
    with transaction.atomic():
        _refuse_while_active(campaign=campaign, phase=phase)
        row, _ = PhaseConfig.objects.update_or_create(campaign=campaign, phase=phase, defaults={"config": clean})
    logger.info("campaign.phase_configured campaign=%s tenant=%s phase=%s", campaign.pk, campaign.tenant_id, phase)
    return row


def phase_config_delete(*, campaign: Campaign, phase: str) -> None:
    with transaction.atomic():
        _refuse_while_active(campaign=campaign, phase=phase)
        PhaseConfig.objects.filter(campaign=campaign, phase=phase).delete()


def _refuse_while_active(*, campaign: Campaign, phase: str) -> None:
    # The campaign row first, as a phase start locks it: a start and an edit are serialised.
    Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
    status = CampaignPhase.objects.filter(campaign=campaign, phase=phase).values_list("status", flat=True).first()
    if status in (PhaseStatus.IN_PROGRESS, PhaseStatus.PAUSED):
        raise Conflict(
            f"Phase {phase} is {status}: its config is frozen until the phase ends.",
            code="phase_config_frozen",
            extra={"phase": phase, "phaseStatus": status},
        )


def campaign_settings_update(*, auto_resume_on_restart: bool) -> CampaignSettings:
    settings = campaign_settings()
    CampaignSettings.objects.filter(pk=settings.pk).update(auto_resume_on_restart=auto_resume_on_restart)
    settings.refresh_from_db()
    logger.info("campaign.settings_updated auto_resume_on_restart=%s", auto_resume_on_restart)
    return settings
