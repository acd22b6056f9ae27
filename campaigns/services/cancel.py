"""Cancelling a campaign: its running or paused phase stops (batches not started never run, running
ones finish their batch), nothing further starts, and the campaign ends `cancelled`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from core.exceptions import Conflict
from orchestration import cancel, events, metrics
from orchestration.db import retry_on_conflict
from tenants.models import User

from ..models import Campaign, CampaignPhase, CampaignStatus, PhaseStatus
from .phases import _locked_rows

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CancelResult:
    campaign: Campaign
    already: bool  # a duplicate cancel: nothing changed


@retry_on_conflict(attempts=4)
def campaign_cancel(*, campaign: Campaign, actor: User) -> CancelResult:
    """A second cancel is a no-op; a completed campaign answers 409. With a phase in progress or
    paused, the campaign ends `cancelled` when that phase's stage finalises (at once when no batch is
    running); otherwise it ends `cancelled` now."""
    with transaction.atomic():
        campaign, rows = _locked_rows(campaign)
        if campaign.cancelled_at is not None:
            return CancelResult(campaign=campaign, already=True)
        if campaign.status == CampaignStatus.COMPLETED:
            raise Conflict("The campaign has completed; there is nothing to cancel.", code="campaign_completed")
        now = timezone.now()
        Campaign.objects.filter(pk=campaign.pk).update(cancelled_at=now, cancelled_by=actor, updated_at=now)
        events.emit(stream=campaign.stream, type="campaign_cancel_requested", payload={"campaignId": str(campaign.pk)})
        active = [
            row
            for row in rows.values()
            if row.status in (PhaseStatus.IN_PROGRESS, PhaseStatus.PAUSED) and row.stage is not None
        ]
        for row in active:
            assert row.stage is not None
            cancel.stage_cancel(stage=row.stage)  # its finaliser calls `campaign_mark_cancelled`
        if not active:
            campaign_mark_cancelled(campaign=campaign, phase=None)
    logger.info("campaign.cancel campaign=%s tenant=%s actor=%s", campaign.pk, campaign.tenant_id, actor.pk)
    campaign.refresh_from_db()
    return CancelResult(campaign=campaign, already=False)


def campaign_mark_cancelled(*, campaign: Campaign, phase: CampaignPhase | None) -> None:
    """The campaign's cancel is complete (nothing of it runs any more)."""
    now = timezone.now()
    if phase is not None:
        CampaignPhase.objects.filter(pk=phase.pk, status__in=[PhaseStatus.IN_PROGRESS, PhaseStatus.PAUSED]).update(
            status=PhaseStatus.CANCELLED, paused_reason="", updated_at=now
        )
    updated = (
        Campaign.objects.filter(pk=campaign.pk)
        .exclude(status=CampaignStatus.CANCELLED)
        .update(status=CampaignStatus.CANCELLED, updated_at=now)
    )
    if not updated:
        return
    events.emit(
        stream=campaign.stream,
        feeds=campaign.feeds,
        type="campaign_cancelled",
        payload={"campaignId": str(campaign.pk), "phase": phase.phase if phase else None},
    )
    metrics.incr("relay_campaigns_cancelled_total")
    logger.info("campaign.cancelled campaign=%s tenant=%s", campaign.pk, campaign.tenant_id)
